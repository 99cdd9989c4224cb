"""The job_update message's JSON is what clients have always received (issue 21 typed its fields):
enum values as their strings, keys in the same order, optional parts left out rather than null."""

from __future__ import annotations

from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.events.types import JobUpdated
from sdcpp_rest.schemas.jobs import JobOutput, JobPhase, JobPreview, JobStatus, JobUpdate

COMMON = dict(
    job_id="j1", model_name="sd15.safetensors", seed=7, position=0, current_step=2, total_steps=4,
    time_elapsed=1500, time_remaining=1500, speed=1.25, timestamp=1700000000000,
)  # fmt: skip


def test_a_progress_update_with_a_preview_keeps_its_wire_form() -> None:
    update = JobUpdate(
        **COMMON, status=JobStatus.PROCESSING, progress=0.5, phase=JobPhase.SAMPLING, error=None,
        error_code=None, preview=JobPreview(step=2, data="AAAA"),
    )  # fmt: skip
    assert JobUpdated(job_id="j1", owner=None, update=update).wire_text == (
        '{"type": "job_update", "data": {"job_id": "j1", "status": "processing", '
        '"model_name": "sd15.safetensors", "seed": 7, "position": 0, "progress": 0.5, "phase": "sampling", '
        '"current_step": 2, "total_steps": 4, "time_elapsed": 1500, "time_remaining": 1500, "speed": 1.25, '
        '"error": null, "error_code": null, "timestamp": 1700000000000, '
        '"preview": {"step": 2, "mime_type": "image/jpeg", "data": "AAAA"}}}'
    )


def test_a_final_update_carries_its_outputs_and_error_code_as_strings() -> None:
    output = JobOutput(filename="image_0.png", url="/u", thumbnail_url="/t")
    failed = JobUpdate(
        **COMMON, status=JobStatus.FAILED, progress=0.5, phase=None, error="boom",
        error_code=ErrorCode.GENERATION_FAILED, outputs=[output],
    )  # fmt: skip
    data = JobUpdated(job_id="j1", owner=None, update=failed).wire()["data"]
    assert (data["status"], data["error_code"], data["phase"]) == ("failed", "GENERATION_FAILED", None)
    assert list(data)[-2:] == ["timestamp", "outputs"]
    assert "download" not in data and "preview" not in data and "engine_timestamp" not in data
