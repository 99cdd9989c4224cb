"""The checkpoints and diffusion models this process has, as claims filter on them: a worker on a
shared database takes only jobs whose model is in its own models folder."""

from __future__ import annotations

import threading
import time

from sdcpp_rest.catalog.files import ModelFiles
from sdcpp_rest.jobs.claims import Runnable
from sdcpp_rest.jobs.params import ENGINE_MODES

# The folder walk is cheap but not free, and idle workers ask about once a second each.
CACHE_SECONDS = 10.0


class LocalCheckpoints:
    def __init__(self, files: ModelFiles) -> None:
        self._files = files
        self._lock = threading.Lock()
        self._names: list[str] = []
        self._read_at = float("-inf")

    def names(self) -> list[str]:
        with self._lock:
            now = time.monotonic()
            if now - self._read_at >= CACHE_SECONDS:
                # A job's model_name is a checkpoint's or a stand-alone diffusion model's name.
                models = [*self._files.list_checkpoints(), *self._files.list_diffusion_models()]
                self._names = [model.name for model in models]
                self._read_at = now
            return list(self._names)

    def runnable(self) -> Runnable:
        return Runnable.of(modes=ENGINE_MODES, model_names=self.names())
