"""Applying styles to prompts (AUTOMATIC1111's rule) and reading its styles.csv: pure logic."""

from __future__ import annotations

import pytest

from sdcpp_rest.styles.csv_import import MAX_CSV_BYTES, StylesCsvError, parse_styles_csv
from sdcpp_rest.styles.merge import apply_styles, merge_prompt
from sdcpp_rest.styles.records import Style, name_error


def style(name: str, prompt: str, negative: str = "") -> Style:
    return Style(name, None, name, prompt, negative, 0.0, 0.0)


def test_a_style_with_the_mark_wraps_the_prompt_and_one_without_appends() -> None:
    wrapped = merge_prompt("oil painting of {prompt}, masterpiece", "a cat")
    assert wrapped == "oil painting of a cat, masterpiece"
    assert merge_prompt("masterpiece", "a cat") == "a cat, masterpiece"
    assert merge_prompt("masterpiece", "") == "masterpiece"
    assert merge_prompt("", " a cat ") == "a cat"
    assert merge_prompt("{prompt} and {prompt}", "x") == "x and x"


def test_styles_apply_in_order_to_prompt_and_negative_prompt() -> None:
    styles = [style("frame", "photo of {prompt}", "blurry"), style("tail", "4k", "{prompt}, lowres")]
    prompt, negative = apply_styles("a dog", "ugly", styles)
    assert prompt == "photo of a dog, 4k"
    assert negative == "ugly, blurry, lowres"


@pytest.mark.parametrize("name", ["cinematic", "Photo (cinematic)", "sai-3d model", "Fooocus V2+", "Ölbild"])
def test_style_names_that_are_accepted(name: str) -> None:
    assert name_error(name) is None


@pytest.mark.parametrize("name", ["", " lead", "trail ", "a/b", "a,b", "new\nline", "x" * 65, "-dash"])
def test_style_names_that_are_refused(name: str) -> None:
    assert name_error(name) is not None


def test_a1111_csv_is_read_with_bad_and_repeated_rows_skipped() -> None:
    data = (
        "\ufeffname,prompt,negative_prompt\n"
        'cinematic,"cinematic still of {prompt}, film grain","cartoon, painting"\n'
        "plain,masterpiece,\n"
        "\n"
        "a/b,x,y\n"
        "plain,again,\n"
    ).encode()
    parsed = parse_styles_csv(data)
    assert [(s.name, s.prompt, s.negative_prompt) for s in parsed.styles] == [
        ("cinematic", "cinematic still of {prompt}, film grain", "cartoon, painting"),
        ("plain", "masterpiece", ""),
    ]
    assert [row.name for row in parsed.skipped] == ["a/b", "plain"]
    assert "not a style name" in parsed.skipped[0].reason


def test_the_older_text_column_is_the_prompt() -> None:
    parsed = parse_styles_csv(b"name,text\nold,vintage photo\n")
    assert [(s.name, s.prompt) for s in parsed.styles] == [("old", "vintage photo")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"just some text\n", "first row"),
        (b"\xff\xfe\x00", "UTF-8"),
        (b"name,prompt\n" + b"x" * MAX_CSV_BYTES, "larger"),
    ],
)
def test_files_that_are_no_styles_csv_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(StylesCsvError, match=message):
        parse_styles_csv(data)
