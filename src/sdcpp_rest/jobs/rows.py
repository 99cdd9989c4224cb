"""A jobs row as the typed JobRecord the store returns."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.jobs.params import JobMode, load_params
from sdcpp_rest.jobs.records import JobPhase, JobRecord, JobStatus, JobTimings


def job_record(row: sa.Row[Any]) -> JobRecord:
    m = row._mapping
    return JobRecord(
        id=m["id"],
        seq=m["seq"],
        mode=JobMode(m["mode"]),
        owner=m["owner"],
        status=JobStatus(m["status"]),
        model_name=m["model_name"],
        prompt=m["prompt"],
        seed=m["seed"],
        params=load_params(m["mode"], json.loads(m["params"])),
        queued_at=m["queued_at"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        attempts=m["attempts"],
        phase=JobPhase(m["phase"]) if m["phase"] else None,
        current_step=m["current_step"],
        total_steps=m["total_steps"],
        step_seconds=m["step_seconds"],
        worker_id=m["worker_id"],
        outputs=json.loads(m["outputs"]),
        error=m["error"],
        error_code=_error_code(m["error_code"]),
        timings=_timings(m),
        claim_token=m["claim_token"],
        lease_expires_at=m["lease_expires_at"],
        cancel_requested=bool(m["cancel_requested"]),
    )


def _timings(m: Any) -> JobTimings | None:
    if m["sampling_seconds"] is None:
        return None
    return JobTimings(
        load_seconds=m["load_seconds"] or 0.0,
        encode_seconds=m["encode_seconds"] or 0.0,
        sampling_seconds=m["sampling_seconds"],
        decode_seconds=m["decode_seconds"] or 0.0,
        peak_memory_bytes=m["peak_memory_bytes"],
    )


def _error_code(stored: str | None) -> ErrorCode | None:
    """The stored code as its ErrorCode; a code this release no longer has reads as INTERNAL_ERROR
    (the row's message still says what happened)."""
    if stored is None:
        return None
    try:
        return ErrorCode(stored)
    except ValueError:
        return ErrorCode.INTERNAL_ERROR
