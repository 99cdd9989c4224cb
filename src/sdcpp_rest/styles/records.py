"""What a style is, and which names a style may have."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Names travel in URL paths (/api/styles/{name}), in request lists and in the PNG's `Styles: a, b`:
# no slash, no comma, no control characters; letters of any script, digits, spaces and a few marks
# that A1111 style collections use ("Photo (cinematic)", "sai-3d-model", "Fooocus V2+").
MAX_STYLE_NAME = 64
STYLE_NAME = re.compile(r"^\w(?:[\w .()&+'!#-]{0,62}[\w.()&+'!#-])?$")
# A style's prompt and negative prompt, each: the engine's prompt limit is checked on the final prompt.
MAX_STYLE_TEXT = 8192


class StyleError(ValueError):
    """A style that cannot be: a bad name or text. The message starts with the field at fault."""


@dataclass(frozen=True)
class Style:
    id: str
    owner: str | None  # the user's id; None for a shared style
    name: str
    prompt: str
    negative_prompt: str
    created_at: float
    updated_at: float

    @property
    def shared(self) -> bool:
        return self.owner is None


def name_error(name: str) -> str | None:
    """Why `name` is not a style name, or None when it is one."""
    if not name or len(name) > MAX_STYLE_NAME or not STYLE_NAME.match(name):
        return (
            f"name: '{name[:80]}' is not a style name (1 to {MAX_STYLE_NAME} letters, digits, spaces and "
            "._-()&+'!#, starting with a letter or digit, not ending with a space)"
        )
    return None


def checked_style_text(name: str, prompt: str, negative_prompt: str) -> None:
    """StyleError unless the name is a style name and both texts fit."""
    error = name_error(name)
    if error:
        raise StyleError(error)
    for field, text in (("prompt", prompt), ("negative_prompt", negative_prompt)):
        if len(text) > MAX_STYLE_TEXT:
            raise StyleError(f"{field}: at most {MAX_STYLE_TEXT} characters ({len(text)} given)")
