"""Which format a PNG's text chunks are in, and its parameters read in that format."""

from __future__ import annotations

from pydantic import ValidationError

from sdcpp_rest.errors import InvalidParameters
from sdcpp_rest.outputs.png_info.chunks import read_png_text
from sdcpp_rest.outputs.png_info.comfyui import read_comfyui_prompt
from sdcpp_rest.outputs.png_info.infotext_format import read_infotext
from sdcpp_rest.outputs.png_info.invokeai import read_invokeai_metadata
from sdcpp_rest.outputs.png_info.mapped import Mapped
from sdcpp_rest.schemas.png_info import PngInfoReply, PngParameters, PngSource

# The chunks each tool writes its parameters in (ComfyUI's `workflow` holds the editor's layout).
INFOTEXT_CHUNK = "parameters"
INVOKEAI_CHUNK = "invokeai_metadata"
COMFYUI_CHUNK = "prompt"


class NoParameters(InvalidParameters):
    """A PNG without generation parameters in a format this server reads."""


def read_png_info(
    data: bytes, max_pixels: int, field_name: str = "image", pixels_note: str = ""
) -> PngInfoReply:
    """The generation parameters of the PNG `data`; InvalidParameters naming `field_name` for a file that
    is no PNG, too large, or holds no parameters this server reads. Pixels are never decoded."""
    png = read_png_text(data, max_pixels, field_name, pixels_note)
    texts = png.texts
    found: tuple[PngSource, Mapped] | None = None
    if texts.get(INFOTEXT_CHUNK, "").strip():
        found = read_infotext(texts[INFOTEXT_CHUNK])
    elif INVOKEAI_CHUNK in texts and (invoke := read_invokeai_metadata(texts[INVOKEAI_CHUNK])) is not None:
        found = ("invokeai", invoke)
    elif COMFYUI_CHUNK in texts and (comfy := read_comfyui_prompt(texts[COMFYUI_CHUNK])) is not None:
        found = ("comfyui", comfy)
    if found is None:
        raise NoParameters(
            f"{field_name}: the PNG holds no generation parameters this server reads (a "
            f"'{INFOTEXT_CHUNK}', '{INVOKEAI_CHUNK}' or ComfyUI '{COMFYUI_CHUNK}' text)",
            field=field_name,
        )
    source, mapped = found
    return PngInfoReply(
        source=source,
        width=png.width,
        height=png.height,
        parameters=_typed(mapped),
        unmapped=mapped.unmapped,
        raw=texts,
    )


def _typed(mapped: Mapped) -> PngParameters:
    """The parameters as their model; a value of the wrong shape moves to unmapped, never fails."""
    values = dict(mapped.parameters)
    while True:
        try:
            return PngParameters.model_validate(values)
        except ValidationError as exc:
            bad = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
            if not bad & values.keys():
                raise
            for name in bad & values.keys():
                mapped.unmapped[name] = values.pop(name)
