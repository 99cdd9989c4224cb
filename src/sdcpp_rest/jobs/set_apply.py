"""A request whose model_name names a model set becomes the request for the set's parts, with the
set's defaults for every field the request left out (a field it gave wins)."""

from __future__ import annotations

from typing import TypeVar

from pydantic import ValidationError

from sdcpp_rest.catalog.model_sets import PART_FIELDS, ModelSet
from sdcpp_rest.errors import InvalidParameters
from sdcpp_rest.schemas.generate import Text2ImgRequest

Request = TypeVar("Request", bound=Text2ImgRequest)


def apply_set(request: Request, model_set: ModelSet) -> Request:
    given = request.model_fields_set
    update: dict[str, object] = {"model_name": None}
    for key, field in PART_FIELDS.items():
        if key in model_set.parts and getattr(request, field) is None:
            update[field] = model_set.parts[key]
    update.update({key: value for key, value in model_set.defaults.items() if key not in given})
    try:
        # Validated again: the defaults come from a file and must meet the same ranges as a request.
        return type(request).model_validate({**request.model_dump(exclude_unset=True), **update})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise InvalidParameters(
            f"model_name: model set '{model_set.name}' gives {where} a value that is not allowed: "
            f"{error['msg']}",
            field="model_name",
        ) from None
