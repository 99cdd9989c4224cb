"""Prompt styles: list them (shared ones and the caller's own; admins every one), add, replace and
delete them, import AUTOMATIC1111's styles.csv. Requests apply them with `styles: [names]`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from sdcpp_rest.api.deps import GenerateDep, ModelsReadDep, StylesDep
from sdcpp_rest.api.query_types import QueryBool
from sdcpp_rest.auth.permissions import Principal
from sdcpp_rest.errors import InvalidParameters
from sdcpp_rest.schemas.styles import (
    NewStyleBody,
    SkippedStyle,
    StyleBody,
    StyleImportReply,
    StylePublic,
    StylesReply,
)
from sdcpp_rest.styles.csv_import import MAX_CSV_BYTES
from sdcpp_rest.styles.records import Style
from sdcpp_rest.styles.service import StyleService

router = APIRouter(prefix="/api/styles", tags=["styles"])
_SHARED = Query(description="Act on the shared style of this name (admins only), not your own.")
# The form part (or text field) of a multipart import that holds the file.
FILE_PART = "file"


def _public(style: Style, usable: dict[str, Style]) -> StylePublic:
    return StylePublic(
        name=style.name,
        prompt=style.prompt,
        negative_prompt=style.negative_prompt,
        shared=style.shared,
        owner=style.owner,
        usable=usable.get(style.name) == style,
        created_at=int(style.created_at),
        updated_at=int(style.updated_at),
    )


def _one(styles: StyleService, principal: Principal, style: Style) -> StylePublic:
    return _public(style, styles.usable(principal.user_id))


@router.get("", response_model=StylesReply, summary="Prompt styles: shared and your own (admins: all)")
def list_styles(styles: StylesDep, principal: ModelsReadDep) -> StylesReply:
    usable = styles.usable(principal.user_id)
    return StylesReply(styles=[_public(style, usable) for style in styles.visible(principal)])


@router.post(
    "", response_model=StylePublic, status_code=status.HTTP_201_CREATED, summary="Add a prompt style"
)
def create_style(body: NewStyleBody, styles: StylesDep, principal: GenerateDep) -> StylePublic:
    style = styles.create(principal, body.name, body.prompt, body.negative_prompt, body.shared)
    return _one(styles, principal, style)


@router.post("/import", response_model=StyleImportReply, summary="Import AUTOMATIC1111's styles.csv")
async def import_styles(
    request: Request,
    styles: StylesDep,
    principal: GenerateDep,
    shared: Annotated[QueryBool, Query(description="Import as shared styles (admins only).")] = False,
    overwrite: Annotated[
        QueryBool, Query(description="Replace your styles of the same names (else they are skipped).")
    ] = True,
) -> StyleImportReply:
    """The body is the CSV text itself (text/csv), or a multipart form with the file in a part named
    `file`. Columns: name, prompt, negative_prompt (a header row names them)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        data = await _form_file(request)
    else:
        data = await request.body()
    report = await run_in_threadpool(styles.import_csv, principal, data, shared, overwrite)
    return StyleImportReply(
        created=report.created,
        updated=report.updated,
        skipped=[SkippedStyle(name=name, reason=reason) for name, reason in report.skipped],
    )


async def _form_file(request: Request) -> bytes:
    form = await request.form(max_files=1, max_fields=4, max_part_size=MAX_CSV_BYTES + 1)
    try:
        part = form.get(FILE_PART)
        if isinstance(part, UploadFile):
            return await part.read(MAX_CSV_BYTES + 1)
        if isinstance(part, str):
            return part.encode("utf-8")
        raise InvalidParameters(f"{FILE_PART}: the form has no part named {FILE_PART}", field=FILE_PART)
    finally:
        await form.close()


@router.put("/{name}", response_model=StylePublic, summary="Replace (or add) a prompt style")
def replace_style(name: str, body: StyleBody, styles: StylesDep, principal: GenerateDep) -> StylePublic:
    style = styles.replace(principal, name, body.prompt, body.negative_prompt, body.shared)
    return _one(styles, principal, style)


@router.delete("/{name}", response_model=StylePublic, summary="Delete a prompt style")
def delete_style(
    name: str, styles: StylesDep, principal: GenerateDep, shared: Annotated[QueryBool, _SHARED] = False
) -> StylePublic:
    style = styles.delete(principal, name, shared)
    return _public(style, {})
