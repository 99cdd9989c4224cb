"""What a format's parser hands back: the parameters it could name in this API's fields and what it
could not, plus the helpers every parser shares (LoRA tags, number conversion, JSON within bounds)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sdcpp_rest.schemas.options import LORA_TAG

# The `[`, `{` and `,` of a metadata JSON text: each makes at most one object. A ComfyUI prompt graph
# of hundreds of nodes has tens of thousands; a text built to make millions of objects is refused
# (api/json_body.py bounds request bodies the same way).
MAX_JSON_STRUCTURE = 100_000
# The gap a removed tag leaves (line breaks are the prompt's own and stay).
_SPACES = re.compile(r"[ \t]{2,}")


@dataclass
class Mapped:
    parameters: dict[str, Any] = field(default_factory=dict)
    unmapped: dict[str, Any] = field(default_factory=dict)

    def put(self, name: str, value: Any, convert: Callable[[Any], Any], source_name: str) -> None:
        """parameters[name] = convert(value), or unmapped[source_name] = value when it does not convert."""
        try:
            self.parameters[name] = convert(value)
        except (TypeError, ValueError, OverflowError):
            self.unmapped[source_name] = value


def as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number here")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value} is not a whole number")
        return int(value)
    return int(str(value).strip())


def as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number here")
    try:
        number = float(str(value).strip()) if not isinstance(value, int | float) else float(value)
    except OverflowError:  # an integer past the floats' range
        raise ValueError("too large a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return number


def as_text(value: Any) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise TypeError("not a text")
    return str(value)


def loras_in_prompt(prompt: str) -> tuple[str, list[dict[str, Any]]]:
    """The prompt without its <lora:NAME:WEIGHT> tags, and those tags as `loras` entries (a tag whose
    weight is no number stays in the prompt)."""
    loras: list[dict[str, Any]] = []

    def take(match: Any) -> str:
        try:
            loras.append({"name": match.group(1), "weight": as_float(match.group(2))})
        except ValueError:
            return str(match.group(0))
        return ""

    stripped = LORA_TAG.sub(take, prompt)
    if not loras:
        return prompt, []
    lines = [_SPACES.sub(" ", line).rstrip(" \t") for line in stripped.split("\n")]
    return "\n".join(lines).strip(), loras


def json_object(text: str) -> dict[str, Any] | None:
    """`text` as a JSON object, or None when it is no JSON object or would parse into too many."""
    raw = text.encode("utf-8", "replace")
    if raw.count(b"[") + raw.count(b"{") + raw.count(b",") > MAX_JSON_STRUCTURE:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
