"""AUTOMATIC1111's settings (GET/POST /sdapi/v1/options), kept per user.

A1111 has one global current checkpoint; here each user (and the local admin when authentication is
off) has their own choice, so one user's model switch does not change another's generations. The
choice lives in memory: after a restart a user's requests fall back to the server's default
checkpoint until their client sets one again (Open WebUI and SillyTavern set it before generating).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

# A1111 settings whose values POST /options keeps; every other key is accepted and ignored.
DEFAULT_CLIP_STOP = 1
NO_VAE = ("Automatic", "None", "")


@dataclass(frozen=True)
class UserOptions:
    checkpoint: str | None = None  # a checkpoint name; None: the server's default
    vae: str | None = None  # a file of models/vae; None: the checkpoint's own VAE
    clip_stop_at_last_layers: int = DEFAULT_CLIP_STOP
    live_previews: bool = True
    preview_every_n_steps: int = 1


class OptionsStore:
    """Thread-safe: options of each user, by user id (None: the local admin of auth_method=none)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._options: dict[str | None, UserOptions] = {}

    def get(self, user_id: str | None) -> UserOptions:
        with self._lock:
            return self._options.get(user_id, UserOptions())

    def update(self, user_id: str | None, **changes: object) -> UserOptions:
        with self._lock:
            updated = replace(self._options.get(user_id, UserOptions()), **changes)  # type: ignore[arg-type]
            self._options[user_id] = updated
            return updated
