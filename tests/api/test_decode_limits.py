"""Request images and the sizes asked for are held to the limits before memory is spent (issue 27,
findings 2 and 4), against a real server whose address space is capped: a regression answers 500
(MemoryError) or dies instead of exhausting the shared machine. Nothing here generates (the engine
worker would not fit under the cap); the ESRGAN path shares the size check with the pixel upscalers.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from tests.server import ServerProcess, prepare_data_dir

# The API process takes about 0.9 GB of address space: 1.5 GB leaves room for the legitimate
# requests below, not for a 12000x12000 RGBA mask (576 MB decoded, more while it is converted).
MEMORY_CEILING = 1536 * 1024 * 1024


def blank_png(width: int, height: int, color_type: int = 6) -> bytes:
    """A PNG of `width` x `height` zero pixels (6: RGBA, 0: grey), compressed row by row: a few hundred
    KB on the wire, gigabytes when decoded, and little memory in this test process."""
    channels = {0: 1, 2: 3, 6: 4}[color_type]
    row = b"\x00" * (1 + width * channels)  # filter byte "none", then the row
    compressor = zlib.compressobj(9)
    idat = b"".join([compressor.compress(row) for _ in range(height)] + [compressor.flush()])

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def png_base64(size: tuple[int, int], mode: str = "RGB") -> str:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def capped_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = prepare_data_dir(tmp_path_factory.mktemp("capped-server"))
    process = ServerProcess(data_dir, memory_limit_bytes=MEMORY_CEILING).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(capped_server: ServerProcess) -> Iterator[httpx.Client]:
    with capped_server.client() as http:
        http.timeout = httpx.Timeout(120)
        yield http


def _extras(client: httpx.Client, **body: object) -> httpx.Response:
    payload = {"image": png_base64((64, 64)), "upscaler_1": "Lanczos", **body}
    return client.post("/sdapi/v1/extra-single-image", json=payload)


@pytest.mark.parametrize("side", [1_000_000, 12_000])
def test_extras_target_size_over_the_pixel_limit_is_refused(client: httpx.Client, side: int) -> None:
    response = _extras(client, resize_mode=1, upscaling_resize_w=side, upscaling_resize_h=side)
    assert response.status_code == 400, response.text
    assert "upscaling_resize_w" in response.json()["errors"] and "pixels" in response.json()["errors"]


def test_extras_scale_over_the_pixel_limit_is_refused(client: httpx.Client) -> None:
    # 4096 x 2 per side is four times max_input_image_pixels.
    response = _extras(client, image=png_base64((4096, 4096), "L"), resize_mode=0, upscaling_resize=2)
    assert response.status_code == 400, response.text
    assert "upscaling_resize" in response.json()["errors"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("upscaling_resize", "Infinity"),
        ("upscaling_resize", "NaN"),
        ("upscaling_resize", "1e308"),
        ("upscaling_resize_w", "1e308"),
        ("upscaling_resize_h", "Infinity"),
    ],
)
def test_extras_non_finite_sizes_are_a_validation_error(client: httpx.Client, field: str, value: str) -> None:
    # Python's JSON (and A1111 clients written in it) send Infinity and NaN bare.
    mode = 0 if field == "upscaling_resize" else 1
    fields = f'"upscaler_1": "Lanczos", "resize_mode": {mode}, "{field}": {value}'
    body = f'{{"image": "{png_base64((64, 64))}", {fields}}}'
    response = client.post(
        "/sdapi/v1/extra-single-image", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert field in response.json()["errors"]


def test_extras_within_the_limits_still_resize(client: httpx.Client) -> None:
    response = _extras(client, resize_mode=1, upscaling_resize_w=640, upscaling_resize_h=320)
    assert response.status_code == 200, response.text
    with Image.open(io.BytesIO(base64.b64decode(response.json()["image"]))) as image:
        assert image.size == (640, 320)


@pytest.mark.parametrize("side", [12_000, 30_000])
def test_openai_edit_mask_over_the_pixel_limit_is_refused_before_decoding(
    client: httpx.Client, side: int
) -> None:
    mask = blank_png(side, side, color_type=6 if side == 12_000 else 0)
    files = [
        ("image", ("image.png", base64.b64decode(png_base64((64, 64))), "image/png")),
        ("mask", ("mask.png", mask, "image/png")),
    ]
    response = client.post("/v1/images/edits", data={"prompt": "a cat"}, files=files)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "mask" and "pixels" in error["message"], error


def test_png_info_refuses_an_image_over_the_pixel_limit(client: httpx.Client) -> None:
    image = base64.b64encode(blank_png(30_000, 30_000, color_type=0)).decode()
    response = client.post("/sdapi/v1/png-info", json={"image": image})
    assert response.status_code == 400, response.text
    assert "pixels" in response.json()["errors"]


def test_concurrent_large_png_info_requests_fit_under_the_ceiling(
    client: httpx.Client, capped_server: ServerProcess
) -> None:
    # Six 16-megapixel images at once (the 776 MB): the decode gate lets two decode at a time.
    image = base64.b64encode(blank_png(4096, 4096)).decode()
    with ThreadPoolExecutor(6) as pool:
        statuses = list(
            pool.map(lambda _: client.post("/sdapi/v1/png-info", json={"image": image}).status_code, range(6))
        )
    assert statuses == [200] * 6, capped_server.log_tail()


def test_the_server_survived(client: httpx.Client, capped_server: ServerProcess) -> None:
    assert capped_server.process is not None and capped_server.process.poll() is None
    assert client.get("/api/health").status_code == 200
