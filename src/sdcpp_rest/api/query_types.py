"""Strict types for query parameters: only the plain spelling of a number or a boolean.

Pydantic's lax mode reads a query string the way it reads JSON text, so `limit=+0.0`, `limit=1e1`
or `thumb=yes` pass as 0, 10 and True. A URL is typed by hand or by a program that knows the type:
anything but the plain form is more likely a bug than an intent, and is VALIDATION_ERROR (422) naming
the parameter. The OpenAPI schema stays `integer` / `boolean`.

- QueryInt: optional minus sign and ASCII digits (`5`, `-1`, `007`); ranges come from Query(ge=, le=).
- QueryBool: `true` / `false` (any case) or `1` / `0`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

_PLAIN_INT = re.compile(r"-?[0-9]+")
# Far more digits than any range we take; keeps int() away from Python's huge-string limit.
MAX_INT_DIGITS = 30
_BOOLS = {"true": True, "1": True, "false": False, "0": False}


def _plain_int(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) > MAX_INT_DIGITS or not _PLAIN_INT.fullmatch(value):
            raise PydanticCustomError("int_parsing", "Input should be a plain integer such as 5")
        return int(value)
    return value


def _plain_bool(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return _BOOLS[value.lower()]
        except KeyError:
            raise PydanticCustomError("bool_parsing", "Input should be true, false, 1 or 0") from None
    return value


QueryInt = Annotated[int, BeforeValidator(_plain_int)]
QueryBool = Annotated[bool, BeforeValidator(_plain_bool)]
