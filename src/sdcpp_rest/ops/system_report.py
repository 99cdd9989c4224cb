"""GET /api/system and GET /api/config: what the machine, the engine and the workers are, and the
effective settings with every secret redacted."""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from sdcpp_rest.config import Settings
from sdcpp_rest.jobs.scheduler.scheduler import WorkerState
from sdcpp_rest.monitoring.procfs import cpu_model, meminfo, status_bytes
from sdcpp_rest.schemas.ops import (
    ClusterWorkerInfo,
    CpuInfo,
    DiskInfo,
    EngineInfo,
    GpuInfo,
    MemoryInfo,
    ProcessInfo,
    SystemInfo,
    WorkerInfo,
)

log = logging.getLogger(__name__)

REDACTED = "[REDACTED]"
# Settings whose name says they hold a credential are redacted even when not typed SecretStr
# (a metrics token, an API key for some upstream ...).
_SECRET_NAME = re.compile(r"(?i)secret|password|passwd|token|key")
# user:password@ in a URL (database_url for PostgreSQL).
_URL_PASSWORD = re.compile(r"(?P<prefix>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]+:)[^@\s]+@")
# "AVX2 = 1 | FMA = 0 | ..." in the engine's system info string.
_FEATURE = re.compile(r"([A-Za-z0-9_]+)\s*=\s*([01])")


def redacted_config(settings: Settings) -> dict[str, Any]:
    """Every setting by name; secrets become "[REDACTED]" when set (null when not)."""
    config: dict[str, Any] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr) or _SECRET_NAME.search(name):
            config[name] = REDACTED if value not in (None, "") else None
        elif isinstance(value, Path):
            config[name] = str(value)
        elif isinstance(value, str):
            config[name] = _URL_PASSWORD.sub(rf"\g<prefix>{REDACTED}@", value)
        else:
            config[name] = value
    return config


def engine_features(system_info: str) -> dict[str, bool]:
    return {name: flag == "1" for name, flag in _FEATURE.findall(system_info)}


def _disk(path: Path) -> DiskInfo:
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return DiskInfo(path=str(path), total_bytes=None, free_bytes=None)
    return DiskInfo(path=str(path), total_bytes=usage.total, free_bytes=usage.free)


def gpus() -> list[GpuInfo]:
    """GPUs through NVML when the nvidia-ml-py package and a driver are there; [] otherwise."""
    try:
        import pynvml  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver / no GPU: absent, not an error
        return []
    found: list[GpuInfo] = []
    try:
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            found.append(
                GpuInfo(
                    index=index,
                    name=name.decode() if isinstance(name, bytes) else str(name),
                    memory_total_bytes=int(memory.total),
                    memory_free_bytes=int(memory.free),
                )
            )
    except Exception:  # a GPU that vanished or an old driver: report what was read
        log.debug("NVML query failed", exc_info=True)
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            log.debug("NVML shutdown failed", exc_info=True)
    return found


def system_info(
    settings: Settings, workers: list[WorkerState], cluster: list[ClusterWorkerInfo] | None = None
) -> SystemInfo:
    memory = meminfo()
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    engine_text = next((w.system_info for w in workers if w.system_info), "")
    return SystemInfo(
        cpu=CpuInfo(model=cpu_model(), cores=os.cpu_count() or 1, usable_cores=usable),
        memory=MemoryInfo(
            total_bytes=memory.get("MemTotal"),
            free_bytes=memory.get("MemAvailable", memory.get("MemFree")),
        ),
        disk={"models": _disk(settings.models_path), "outputs": _disk(settings.output_path)},
        gpus=gpus(),
        engine=EngineInfo(system_info=engine_text, features=engine_features(engine_text)),
        server=ProcessInfo(pid=os.getpid(), resident_memory_bytes=status_bytes("VmRSS")),
        workers=[
            WorkerInfo(
                worker_id=w.worker_id,
                pid=w.pid,
                alive=w.alive,
                job_id=w.job_id,
                loaded_model=Path(w.loaded_model).name if w.loaded_model else None,
                resident_memory_bytes=status_bytes("VmRSS", w.pid) if w.pid and w.alive else None,
            )
            for w in workers
        ],
        cluster_workers=cluster or [],
    )
