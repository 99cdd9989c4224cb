"""Bodies of the image-input endpoints: a JSON body, or multipart/form-data with images as file parts.

Multipart layout, for clients that upload files rather than base64 text (curl -F, browser forms):
- each image field (`init_image`, `mask_image`, `control_image`, `image`) may be a file part;
- every other field of the JSON body may be a form field holding its value as text: numbers and
  booleans as text (`steps=20`, `canny=true`), lists and objects (`loras`, `hires`) as JSON text;
- or one `request` form field may hold the JSON body (without the images) in one piece.
File parts are base64-encoded and validated by the same pydantic model as a JSON body, so one set of
ranges, limits and error messages applies to both.

Only a caller who may generate gets its body read, and JSON is parsed and validated in a worker
thread within api/json_body.py's bounds: these bodies may be as large as max_request_bytes.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, get_args, get_origin

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from sdcpp_rest.api.deps import GenerateDep, services_of
from sdcpp_rest.api.json_body import is_json_content_type, parse_json, parse_json_off_loop
from sdcpp_rest.errors import InvalidParameters, UnsupportedMediaType
from sdcpp_rest.schemas.generate import image_fields

Body = TypeVar("Body", bound=BaseModel)
# The form field that may carry the whole JSON body at once.
REQUEST_FIELD = "request"
# Text fields other than the images are small; a base64 image sent as a text field is allowed too.
MAX_FORM_FIELDS = 200
MAX_FILE_PARTS = 8


def body_parser(model: type[Body]) -> Callable[..., Awaitable[Body]]:
    """A dependency that reads a JSON or multipart body into `model`; errors render as JSON bodies do."""

    # GenerateDep first: a guest is refused before a byte of the body is read.
    async def parse(request: Request, _: GenerateDep) -> Body:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "multipart/form-data":
            data = await _multipart_data(request, model)
        elif is_json_content_type(content_type):
            data = await parse_json_off_loop(await request.body())
        else:
            raise UnsupportedMediaType(
                f"content type {content_type} is not accepted: send application/json or multipart/form-data"
            )
        return await run_in_threadpool(_validated, model, data)

    return parse


def _validated(model: type[Body], data: Any) -> Body:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # The same rendering as FastAPI's own body validation (VALIDATION_ERROR naming the field).
        raise RequestValidationError(exc.errors(include_url=False)) from None


async def _multipart_data(request: Request, model: type[BaseModel]) -> dict[str, Any]:
    max_image_bytes = services_of(request.app).settings.max_input_image_bytes
    form = await request.form(
        max_files=MAX_FILE_PARTS,
        max_fields=MAX_FORM_FIELDS,
        # A text part may hold a base64 image (4/3 of its bytes) or the `request` JSON.
        max_part_size=max_image_bytes * 4 // 3 + 1024,
    )
    try:
        return await run_in_threadpool(_form_to_body, form, model, max_image_bytes)
    finally:
        await form.close()


def _form_to_body(form: FormData, model: type[BaseModel], max_image_bytes: int) -> dict[str, Any]:
    images = set(image_fields(model))
    data: dict[str, Any] = {}
    for name in dict.fromkeys(form.keys()):
        values = form.getlist(name)
        if name in images and _takes_list(model, name):
            # A list of images (ref_images): one file part per image, repeated under its name.
            _merge(data, {name: [_image_part(name, value, max_image_bytes) for value in values]})
            continue
        if len(values) > 1:
            raise InvalidParameters(f"{name}: given more than once in the form")
        value = values[0]
        if name == REQUEST_FIELD and isinstance(value, str):
            whole = parse_json(value.encode(), REQUEST_FIELD)
            if not isinstance(whole, dict):
                raise InvalidParameters(f"{REQUEST_FIELD}: must be a JSON object holding the body's fields")
            _merge(data, whole)
        elif isinstance(value, UploadFile):
            if name not in images:
                raise InvalidParameters(
                    f"{name}: only image fields may be file parts ({', '.join(sorted(images))})"
                )
            _merge(data, {name: _file_as_base64(name, value, max_image_bytes)})
        else:
            _merge(data, {name: _form_value(model, name, value)})
    return data


def _takes_list(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    return field is not None and any(
        get_origin(arg) is list for arg in (field.annotation, *get_args(field.annotation))
    )


def _image_part(name: str, value: UploadFile | str, max_image_bytes: int) -> str:
    return _file_as_base64(name, value, max_image_bytes) if isinstance(value, UploadFile) else value


def _merge(data: dict[str, Any], more: dict[str, Any]) -> None:
    for name, value in more.items():
        if name in data:
            raise InvalidParameters(f"{name}: given both in '{REQUEST_FIELD}' and as a form field")
        data[name] = value


def _file_as_base64(name: str, upload: UploadFile, max_image_bytes: int) -> str:
    # Read one byte past the limit: enough to know it is too large without reading it all.
    content = upload.file.read(max_image_bytes + 1)
    if len(content) > max_image_bytes:
        raise InvalidParameters(f"{name}: image is larger than {max_image_bytes} bytes")
    return base64.b64encode(content).decode()


def _form_value(model: type[BaseModel], name: str, text: str) -> Any:
    """Form values are text; fields that take a list or an object read it as JSON."""
    field = model.model_fields.get(name)
    if field is None or not _takes_structure(field.annotation):
        return text  # pydantic turns "20" into 20 and "true" into True for number/bool fields
    return parse_json(text.encode(), f"{name}: form value")


def _takes_structure(annotation: Any) -> bool:
    if get_origin(annotation) in (list, dict, tuple):
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_takes_structure(arg) for arg in get_args(annotation))


def request_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route parsed by body_parser: the JSON schema and the multipart form."""
    files = {
        name: {"type": "string", "format": "binary", "description": f"{name} as an uploaded file"}
        for name in image_fields(model)
    }
    form = {
        "type": "object",
        "description": (
            "Images as file parts; other fields as form fields (numbers and booleans as text, "
            f"lists and objects as JSON text), or all of them as JSON in the '{REQUEST_FIELD}' field. "
            f"Same fields, ranges and defaults as the JSON body ({model.__name__})."
        ),
        "properties": {
            **files,
            REQUEST_FIELD: {"type": "string", "description": "The JSON body without the images"},
        },
        "additionalProperties": {"type": "string"},
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}},
                "multipart/form-data": {"schema": form},
            },
        }
    }


def install_body_schemas(app: FastAPI, models: list[type[BaseModel]]) -> None:
    """Adds `models` to the OpenAPI components: routes parsed by body_parser refer to them by name."""

    generate_schema = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate_schema()  # FastAPI caches it; adding the same names again changes nothing
        _, definitions = models_json_schema(
            [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in definitions.get("$defs", {}).items():
            components.setdefault(name, definition)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
