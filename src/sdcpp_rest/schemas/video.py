"""Request bodies of the video modes (Wan through the engine's generate_video): txt2vid and img2vid.
They take every text2img field that applies to a generation; the job's result is an animated WebP
(`video.webp`) and every frame as a PNG (`image_N.png`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from sdcpp_rest.schemas.generate import _IMAGE_TEXT, IMAGE_FIELD, MAX_IMAGE_TEXT, Text2ImgRequest
from sdcpp_rest.schemas.options import ranged

VIDEO_FAMILIES = ("Wan",)


class VideoFields(BaseModel):
    """What the video modes add: frame count and rate."""

    video_frames: int = ranged("video_frames")
    fps: int = ranged("fps")


class Txt2VidRequest(VideoFields, Text2ImgRequest):
    """Body of POST /api/generate/txt2vid (a Wan model as diffusion_model or model_name)."""

    def planned_total_steps(self) -> int:
        return self.steps  # one video: the engine samples all frames together


class Img2VidRequest(Txt2VidRequest):
    """Body of POST /api/generate/img2vid: the video starts from `init_image`."""

    init_image: str = Field(
        ...,
        max_length=MAX_IMAGE_TEXT,
        json_schema_extra=IMAGE_FIELD,
        description=f"First frame ({_IMAGE_TEXT}), fitted to width x height.",
    )
    strength: float = ranged("strength", integer=False)
