"""format_infotext / parse_infotext: the A1111-style `parameters` text round-trips."""

from __future__ import annotations

from typing import Any

import pytest

from sdcpp_rest.outputs.infotext import format_infotext, parse_infotext

TYPICAL_FIELDS: dict[str, Any] = {
    "Steps": 20,
    "Sampler": "euler_a",
    "CFG scale": 7.0,
    "Seed": 1234567890,
    "Size": "512x512",
    "Model": "sd15",
}


def test_typical_fields_round_trip_as_strings() -> None:
    text = format_infotext("a cat on a mat", "blurry", TYPICAL_FIELDS)

    prompt, negative, fields = parse_infotext(text)

    assert prompt == "a cat on a mat"
    assert negative == "blurry"
    assert fields == {key: str(value) for key, value in TYPICAL_FIELDS.items()}


def test_layout_is_prompt_then_negative_then_settings_line() -> None:
    text = format_infotext("a cat", "dog", {"Steps": 4, "Seed": 1})

    assert text == "a cat\nNegative prompt: dog\nSteps: 4, Seed: 1"


def test_empty_negative_prompt_omits_its_line() -> None:
    text = format_infotext("a cat", "", {"Steps": 4})

    assert "Negative prompt" not in text
    assert text == "a cat\nSteps: 4"
    assert parse_infotext(text) == ("a cat", "", {"Steps": "4"})


def test_none_fields_are_left_out() -> None:
    text = format_infotext("p", "", {"Steps": 4, "VAE": None, "Seed": 9})

    assert "VAE" not in text
    assert parse_infotext(text)[2] == {"Steps": "4", "Seed": "9"}


def test_field_order_is_preserved() -> None:
    fields = {"Zeta": 1, "Alpha": 2, "Mid": 3}

    assert list(parse_infotext(format_infotext("p", "", fields))[2]) == ["Zeta", "Alpha", "Mid"]


@pytest.mark.parametrize(
    "value",
    [
        "a, b, c",
        "ratio: 16:9",
        'say "hi"',
        '"fully quoted"',
        'mixed, "quotes": and colons',
        "back\\slash, with comma",
        "trailing backslash, \\",
        "C:\\models\\sd15.safetensors",
    ],
    ids=["commas", "colons", "quotes", "only-quotes", "mixed", "backslash", "trailing-backslash", "windows"],
)
def test_values_with_separators_and_quotes_round_trip(value: str) -> None:
    fields = {"Steps": 4, "Tricky": value, "Seed": 7}

    _, _, parsed = parse_infotext(format_infotext("p", "n", fields))

    assert parsed == {"Steps": "4", "Tricky": value, "Seed": "7"}


def test_values_with_separators_are_quoted_in_the_text() -> None:
    text = format_infotext("p", "", {"Lora": "style: ink, heavy"})

    assert text.splitlines()[-1] == 'Lora: "style: ink, heavy"'


def test_prompts_with_commas_and_colons_round_trip() -> None:
    prompt = "masterpiece, best quality: a cat, (detailed:1.2)"
    negative = "lowres, bad anatomy: hands"

    parsed_prompt, parsed_negative, _ = parse_infotext(format_infotext(prompt, negative, {"Steps": 1}))

    assert parsed_prompt == prompt
    assert parsed_negative == negative


def test_multi_line_prompt_round_trips() -> None:
    prompt = "first line\nsecond line"

    parsed_prompt, negative, fields = parse_infotext(format_infotext(prompt, "bad", {"Steps": 2}))

    assert parsed_prompt == prompt
    assert negative == "bad"
    assert fields == {"Steps": "2"}


def test_empty_fields_round_trip() -> None:
    assert parse_infotext(format_infotext("p", "n", {})) == ("p", "n", {})


def test_value_with_newline_round_trips() -> None:
    _, _, parsed = parse_infotext(format_infotext("p", "", {"Note": "line one\nline two"}))

    assert parsed == {"Note": "line one\nline two"}


def test_multi_line_negative_prompt_round_trips() -> None:
    prompt, negative, _ = parse_infotext(format_infotext("a cat", "blurry\nlowres", {"Steps": 2}))

    assert (prompt, negative) == ("a cat", "blurry\nlowres")
