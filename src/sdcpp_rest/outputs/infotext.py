"""PNG `parameters` text in the infotext format AUTOMATIC1111 and other Stable Diffusion tools read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _quote(value: str) -> str:
    # Values with commas or colons are quoted, as A1111 does, so parsers split fields correctly.
    if any(ch in value for ch in ',:\n"'):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return value


def format_infotext(prompt: str, negative_prompt: str, fields: Mapping[str, Any]) -> str:
    """`prompt`, then `Negative prompt: ...`, then `Key: value, ...` (None values left out)."""
    lines = [prompt]
    if negative_prompt:
        lines.append(f"Negative prompt: {negative_prompt}")
    rendered = [f"{key}: {_quote(str(value))}" for key, value in fields.items() if value is not None]
    lines.append(", ".join(rendered))
    return "\n".join(lines)


def parse_infotext(text: str) -> tuple[str, str, dict[str, str]]:
    """Inverse of format_infotext for the fields we write (used by tests and future img2img reuse)."""
    lines = text.split("\n")
    settings_line = lines[-1]
    body = lines[:-1]
    negative = ""
    prompt_lines: list[str] = []
    negative_lines: list[str] | None = None
    for line in body:
        if negative_lines is None and line.startswith("Negative prompt: "):
            negative_lines = [line[len("Negative prompt: ") :]]
        elif negative_lines is not None:  # a negative prompt runs to the settings line
            negative_lines.append(line)
        else:
            prompt_lines.append(line)
    if negative_lines is not None:
        negative = "\n".join(negative_lines)
    fields: dict[str, str] = {}
    key, value, in_quotes, current = "", "", False, ""
    i = 0
    while i < len(settings_line):
        ch = settings_line[i]
        if in_quotes:
            if ch == "\\" and i + 1 < len(settings_line):
                escaped = settings_line[i + 1]
                current += "\n" if escaped == "n" else escaped
                i += 2
                continue
            if ch == '"':
                in_quotes = False
            else:
                current += ch
        elif ch == '"':
            in_quotes = True
        elif ch == ":" and not key:
            key, current = current.strip(), ""
        elif ch == ",":
            value = current.strip()
            fields[key] = value
            key, current = "", ""
        else:
            current += ch
        i += 1
    if key:
        fields[key] = current.strip()
    return "\n".join(prompt_lines), negative, fields
