"""`sdcpp-rest models pull URL`, `models list` and `models rm NAME` against a running server (issue 16).

`pull` queues a download (POST /api/models/download) and follows its job by polling, drawing a
progress bar with bytes, speed and time left on stderr; the model's name goes to stdout. Exit codes
as for `generate`: 0 done, 1 the download failed or was cancelled, 2 refused or unreachable, 130
interrupted (the download goes on on the server: `sdcpp-rest cancel JOB` stops it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any
from urllib.parse import quote

import httpx

from sdcpp_rest.cli.client import (
    EXIT_COMPLETED,
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_REQUEST_ERROR,
    FINAL_STATUSES,
    ClientError,
    _json,
    _request,
    connection_options,
    target_from,
)
from sdcpp_rest.cli.display import ProgressLine, clock_text, write_err, write_out
from sdcpp_rest.schemas.jobs import JobStatus

MODELS_COMMAND = "models"
POLL_SECONDS = 0.5
BAR_WIDTH = 20
MIB = 1024 * 1024
LIST_HEADER = ("TYPE", "NAME", "SIZE", "WEIGHTS", "STATE", "HASH")


def add_models_parser(subparsers: argparse._SubParsersAction) -> None:
    connection = connection_options()
    models = subparsers.add_parser(MODELS_COMMAND, help="download, list and delete model files (admin)")
    actions = models.add_subparsers(dest="models_command", required=True)
    pull = actions.add_parser("pull", parents=[connection], help="download a model file into the server")
    pull.add_argument("url", help="http(s) URL, hf://ORG/REPO/FILE, a Hugging Face or CivitAI URL")
    pull.add_argument("--type", default="checkpoint", help="model type (default checkpoint)")
    pull.add_argument("--filename", help="name in the type's folder (default: the URL's file name)")
    pull.add_argument("--sha256", help="the SHA-256 the file must have")
    listing = actions.add_parser("list", parents=[connection], help="list the server's model files")
    listing.add_argument("--type", help="only this model type")
    listing.add_argument("--json", action="store_true", help="print the server's JSON reply")
    remove = actions.add_parser("rm", parents=[connection], help="move a model file into the trash")
    remove.add_argument("name", help="the model's name, hash or short hash")
    remove.add_argument("--force", action="store_true", help="even when queued jobs need it")


def run_models_command(args: argparse.Namespace) -> int:
    try:
        with target_from(args).http_client() as client:
            if args.models_command == "pull":
                return pull(client, args)
            if args.models_command == "list":
                return list_models(client, args)
            return remove(client, args)
    except ClientError as exc:
        write_err(f"sdcpp-rest: error: {exc}")
        return EXIT_REQUEST_ERROR
    except KeyboardInterrupt:
        write_err("\nsdcpp-rest: interrupted")
        return EXIT_INTERRUPTED


def pull(client: httpx.Client, args: argparse.Namespace) -> int:
    body = {"url": args.url, "type": args.type, "filename": args.filename, "sha256": args.sha256}
    reply = _json(_request(client, "POST", "/api/models/download", json={k: v for k, v in body.items() if v}))
    job_id = str(reply["job_id"])
    write_err(f"downloading {reply['url']} as {reply['type']} '{reply['filename']}' (job {job_id})")
    line = ProgressLine(sys.stderr)
    try:
        while True:
            job = _json(_request(client, "GET", f"/api/queue/job/{job_id}"))
            line.show(describe_download(job))
            if job.get("status") in FINAL_STATUSES:
                break
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        line.end()
        write_err(f"the download goes on on the server; stop it with: sdcpp-rest cancel {job_id}")
        raise
    finally:
        line.end()  # whatever comes next (a result, an error) starts on a line of its own
    if job["status"] != JobStatus.COMPLETED:
        write_err(
            f"sdcpp-rest: download {job['status']}: {job.get('error') or ''} ({job.get('error_code') or ''})"
        )
        return EXIT_JOB_FAILED
    write_out(str(reply["filename"]))
    return EXIT_COMPLETED


def describe_download(job: dict[str, Any]) -> str:
    """One line: phase, bar, percent, MiB done of total, speed, time left."""
    status = str(job.get("status") or "")
    if status == JobStatus.QUEUED:
        return "queued"
    download = job.get("download") or {}
    done, total = int(download.get("bytes_done") or 0), download.get("bytes_total")
    progress = 1.0 if status == JobStatus.COMPLETED else (done / total if total else 0.0)
    filled = round(min(progress, 1.0) * BAR_WIDTH)
    parts = [f"{job.get('phase') or status:<11}", f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}]"]
    parts.append(f"{progress:4.0%}")
    parts.append(f"{done / MIB:.1f}/{total / MIB:.1f} MiB" if total else f"{done / MIB:.1f} MiB")
    speed = download.get("speed_bytes_per_s")
    if speed:
        parts.append(f"{speed / MIB:.1f} MiB/s")
    if status == JobStatus.PROCESSING and job.get("time_remaining") is not None:
        parts.append(f"ETA {clock_text(job['time_remaining'])}")
    return "  ".join(parts)


def list_models(client: httpx.Client, args: argparse.Namespace) -> int:
    params = {"limit": 0, **({"type": args.type} if args.type else {})}
    reply = _json(_request(client, "GET", "/api/models", params=params))
    if args.json:
        write_out(json.dumps(reply, indent=2))
        return EXIT_COMPLETED
    rows = [
        (m["type"], m["name"], f"{m['size_bytes'] / MIB:.1f} MiB", m.get("weight_type") or "-",
         "loaded" if m.get("loaded") else "", (m.get("short_hash") or "")[:10])
        for m in reply["models"]
    ]  # fmt: skip
    if not rows:
        kind = f"{args.type} " if args.type else ""
        write_out(
            f"The server has no {kind}models. Copy model files into its models folder (checkpoints/, "
            "lora/, ...) and refresh them (POST /api/models/refresh), or download one: "
            "sdcpp-rest models pull URL"
        )
        return EXIT_COMPLETED
    rows.insert(0, LIST_HEADER)
    widths = [max(len(row[i]) for row in rows) for i in range(len(LIST_HEADER))]
    for row in rows:
        write_out("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return EXIT_COMPLETED


def remove(client: httpx.Client, args: argparse.Namespace) -> int:
    params = {"force": "true"} if args.force else {}
    reply = _json(_request(client, "DELETE", f"/api/models/{quote(args.name, safe='/')}", params=params))
    entry = reply["entry"]
    write_out(f"{entry['path']} moved to the trash as {entry['id']}")
    write_err(f"restore it with: POST /api/models/trash/{entry['id']}/restore")
    return EXIT_COMPLETED
