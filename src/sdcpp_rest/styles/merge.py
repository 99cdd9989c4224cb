"""Applying styles to a prompt, by AUTOMATIC1111's rule: a style's text with `{prompt}` takes the
user's text in its place; a style without it is appended (", " between the non-empty parts). Several
styles apply in the order named, each to the result of the previous one. Negative prompts combine
the same way."""

from __future__ import annotations

from collections.abc import Sequence

from sdcpp_rest.styles.records import Style

PROMPT_MARK = "{prompt}"


def merge_prompt(style_text: str, prompt: str) -> str:
    if PROMPT_MARK in style_text:
        return style_text.replace(PROMPT_MARK, prompt)
    return ", ".join(part for part in (prompt.strip(), style_text.strip()) if part)


def apply_styles(prompt: str, negative_prompt: str, styles: Sequence[Style]) -> tuple[str, str]:
    """The prompt and negative prompt with every style applied, in order."""
    for style in styles:
        prompt = merge_prompt(style.prompt, prompt)
        negative_prompt = merge_prompt(style.negative_prompt, negative_prompt)
    return prompt, negative_prompt
