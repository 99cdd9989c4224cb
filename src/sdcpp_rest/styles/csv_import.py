"""Reading AUTOMATIC1111's styles.csv: a header row naming `name`, `prompt` and `negative_prompt`
(older files call the prompt column `text`), one style a row."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sdcpp_rest.styles.records import StyleError, checked_style_text

# A file of styles is text of a few hundred rows; these bound what one import may ask of the server.
MAX_CSV_BYTES = 2 * 1024 * 1024
MAX_CSV_ROWS = 2000


class StylesCsvError(ValueError):
    """A file that is not a styles.csv (no usable header, too large, not text)."""


@dataclass(frozen=True)
class CsvStyle:
    name: str
    prompt: str
    negative_prompt: str


@dataclass(frozen=True)
class SkippedRow:
    name: str
    reason: str


@dataclass
class ParsedStyles:
    styles: list[CsvStyle] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)


def parse_styles_csv(data: bytes) -> ParsedStyles:
    """The styles of the file, in order, and the rows left out with the reason (a bad name or text,
    a name given twice: the first one wins, as in A1111)."""
    if len(data) > MAX_CSV_BYTES:
        raise StylesCsvError(f"the file is larger than {MAX_CSV_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")  # A1111 writes it with a byte-order mark on Windows
    except UnicodeDecodeError:
        raise StylesCsvError("the file is not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = {name.strip().lower() for name in reader.fieldnames or ()}
    if "name" not in columns or not columns & {"prompt", "text"}:
        raise StylesCsvError("the first row must name the columns: name,prompt,negative_prompt")
    parsed = ParsedStyles()
    seen: set[str] = set()
    try:
        for number, row in enumerate(reader, start=1):
            if number > MAX_CSV_ROWS:
                raise StylesCsvError(f"the file has more than {MAX_CSV_ROWS} styles")
            values = {
                str(key).strip().lower(): (value or "") for key, value in row.items() if key is not None
            }
            name = values.get("name", "").strip()
            prompt = values.get("prompt", values.get("text", ""))
            negative = values.get("negative_prompt", "")
            if not name and not prompt and not negative:
                continue  # an empty line
            if name in seen:
                parsed.skipped.append(SkippedRow(name, "the file names this style before"))
                continue
            try:
                checked_style_text(name, prompt, negative)
            except StyleError as exc:
                parsed.skipped.append(SkippedRow(name, str(exc)))
                continue
            seen.add(name)
            parsed.styles.append(CsvStyle(name, prompt, negative))
    except csv.Error as exc:
        raise StylesCsvError(f"the file is not valid CSV: {exc}") from None
    return parsed
