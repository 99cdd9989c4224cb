"""Limits for a shared server: what one user may queue, how much one job may cost, how often one may
submit. Settings give the defaults; `role_limits` overrides them per role (admins unlimited by
default). 0 means unlimited.

Over a limit nothing is queued: a job that can never fit is a 400 (INVALID_PARAMETERS, naming the
limit and the field), a full queue or too many submissions a 429 (RATE_LIMITED) with Retry-After.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

from sdcpp_rest.auth.permissions import Principal
from sdcpp_rest.config import LIMIT_NAMES, Settings
from sdcpp_rest.errors import InvalidParameters, RateLimited
from sdcpp_rest.jobs.params import FileJobParams, JobParams, Text2ImgParams
from sdcpp_rest.jobs.records import NewJob
from sdcpp_rest.schemas.parameters import PARAMETER_RANGES

RATE_WINDOW_SECONDS = 60.0
# A full queue frees a place when a job of the user's starts: tell clients to come back after about
# one job's time rather than hammering (a hint, not a promise).
QUEUE_FULL_RETRY_SECONDS = 30
# Users whose submission times are remembered at most; the oldest idle ones are forgotten first.
MAX_TRACKED_USERS = 10_000


@dataclass(frozen=True)
class JobLimits:
    """The limits that apply to one caller (0 = unlimited), as /api/parameters and /api/auth/me show."""

    max_queued_jobs_per_user: int
    max_job_pixels: int
    max_job_steps: int
    max_submissions_per_minute: int

    def public(self) -> dict[str, int]:
        return asdict(self)


def job_pixels(params: JobParams) -> int:
    """width x height x images at the job's largest pass (the hires pass when there is one)."""
    if not isinstance(params, Text2ImgParams):
        return params.width * params.height  # upscale: one input image
    width, height = params.width, params.height
    if params.hires is not None:
        width, height = params.hires.target_size(width, height)
    return width * height * params.batch_count


def _check_second_pass(params: JobParams) -> None:
    """A hires pass is held to the sizes a first pass may have, whoever asks (admins too): its scale
    (up to 4) of a 4096-pixel side would make a 16384-pixel one, gigabytes in the engine."""
    if not isinstance(params, Text2ImgParams) or params.hires is None:
        return
    width, height = params.hires.target_size(params.width, params.height)
    most = int(PARAMETER_RANGES["width"].maximum)
    if max(width, height) > most:
        raise InvalidParameters(
            f"hires: the second pass would be {width}x{height}; each side may be {most} pixels at most "
            "(lower hires.scale or set hires.width/height)",
            field="hires.scale",
        )


class LimitPolicy:
    """Which limits apply to whom, and the check of one submission against them."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        defaults = {name: int(getattr(settings, name)) for name in LIMIT_NAMES}
        self._by_role = {
            role: JobLimits(**{**defaults, **limits}) for role, limits in settings.role_limits.items()
        }
        self._default = JobLimits(**defaults)
        self._clock = clock
        self._lock = threading.Lock()
        self._submissions: dict[str, deque[float]] = {}

    def for_principal(self, principal: Principal) -> JobLimits:
        return self._by_role.get(principal.role.value, self._default)

    def admit(self, principal: Principal, queued_jobs: int) -> None:
        """Before a submission is looked at: the caller's rate and queue (cheap checks, no decoding)."""
        limits = self.for_principal(principal)
        if limits.max_queued_jobs_per_user and queued_jobs >= limits.max_queued_jobs_per_user:
            raise RateLimited(
                f"max_queued_jobs_per_user: you have {queued_jobs} job(s) waiting, the limit is "
                f"{limits.max_queued_jobs_per_user}; wait for one to start or cancel one",
                headers={"Retry-After": str(QUEUE_FULL_RETRY_SECONDS)},
            )
        if limits.max_submissions_per_minute:
            self._count_submission(principal, limits.max_submissions_per_minute)

    def _count_submission(self, principal: Principal, per_minute: int) -> None:
        key = principal.user_id or principal.username
        now = self._clock()
        with self._lock:
            times = self._submissions.pop(key, deque())
            while times and now - times[0] >= RATE_WINDOW_SECONDS:
                times.popleft()
            if len(times) >= per_minute:
                self._submissions[key] = times
                retry = max(1, math.ceil(RATE_WINDOW_SECONDS - (now - times[0])))
                raise RateLimited(
                    f"max_submissions_per_minute: the limit is {per_minute} generation requests a minute",
                    headers={"Retry-After": str(retry)},
                )
            times.append(now)
            self._submissions[key] = times  # re-inserted: the dict's order is least recently used first
            while len(self._submissions) > MAX_TRACKED_USERS:
                del self._submissions[next(iter(self._submissions))]

    def check_cost(self, principal: Principal, job: NewJob) -> None:
        """A planned job's size and steps against the caller's limits (a 400: it can never fit)."""
        limits = self.for_principal(principal)
        if isinstance(job.params, FileJobParams):  # issue 16: no pixels, no steps
            return
        _check_second_pass(job.params)
        pixels = job_pixels(job.params)
        if limits.max_job_pixels and pixels > limits.max_job_pixels:
            raise InvalidParameters(
                f"max_job_pixels: this job makes {pixels} pixels (width x height x images at its largest "
                f"pass); the limit for your role is {limits.max_job_pixels}",
                field="width",
            )
        if limits.max_job_steps and job.total_steps > limits.max_job_steps:
            raise InvalidParameters(
                f"max_job_steps: this job runs {job.total_steps} sampling steps (steps, plus hires steps, "
                f"x images); the limit for your role is {limits.max_job_steps}",
                field="steps",
            )
