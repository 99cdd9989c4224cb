"""The runners JobService talks to, as one (issue 16): the scheduler's engine slots and the server's
own model download runner. A cancel goes to whichever runs the job; counts are the engine's."""

from __future__ import annotations

from sdcpp_rest.jobs.download_runner import DownloadRunner
from sdcpp_rest.jobs.scheduler.scheduler import Scheduler


class RunnerGroup:
    def __init__(self, scheduler: Scheduler, downloads: DownloadRunner) -> None:
        self._scheduler = scheduler
        self._downloads = downloads

    def notify_work(self) -> None:
        self._scheduler.notify_work()
        self._downloads.notify_work()

    def cancel_running(self, job_id: str) -> bool:
        return self._downloads.cancel_running(job_id) or self._scheduler.cancel_running(job_id)

    def active_generations(self) -> int:
        return self._scheduler.active_generations()

    @property
    def is_running(self) -> bool:
        return self._scheduler.is_running
