"""A video job's files: every frame as a PNG with its parameters text (as image jobs write them) and
the animated WebP of all frames."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from sdcpp_rest.outputs.files import output_filename, write_png_atomically

VIDEO_FILE = "video.webp"


def write_video(job_dir: Path, frames: list[Image.Image], fps: int, infotext: str) -> list[str]:
    """Write the frames and the animated WebP; the file names, the video first."""
    names = []
    for index, frame in enumerate(frames):
        name = output_filename(index)
        write_png_atomically(frame.convert("RGB"), job_dir / name, infotext)
        names.append(name)
    partial = job_dir / f".{VIDEO_FILE}.partial"
    rgb = [frame.convert("RGB") for frame in frames]
    rgb[0].save(
        partial,
        format="WEBP",
        save_all=True,
        append_images=rgb[1:],
        duration=max(1, round(1000 / max(fps, 1))),
        loop=0,
        lossless=True,
    )
    os.replace(partial, job_dir / VIDEO_FILE)
    return [VIDEO_FILE, *names]
