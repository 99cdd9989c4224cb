"""Client commands of `sdcpp-rest`: `generate`, `queue` and `cancel` against a running server.

`generate` is the first real client of the WebSocket: it submits a text2img job, follows it on
`/ws?job_id=ID` (falling back to polling `GET /api/queue/job/{id}` when the WebSocket cannot be
used), draws a one-line progress bar on stderr and downloads the images. Saved paths go to stdout,
everything for people goes to stderr, so `sdcpp-rest generate ... | xargs open` works.

Exit codes are part of the interface for scripts: 0 the job completed, 1 it failed or was cancelled,
2 the request was refused or the server could not be reached, 130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import ClientConnection, connect, unix_connect

from sdcpp_rest.cli.display import ProgressLine, describe_progress, format_queue, write_err, write_out
from sdcpp_rest.cli.token_store import stored_token
from sdcpp_rest.schemas.jobs import FINAL_STATUSES, JobStatus

CLIENT_COMMANDS = ("generate", "queue", "cancel")
DEFAULT_SERVER_URL = "http://127.0.0.1:8080"
LOGIN_PATH = "/api/auth/login"

EXIT_COMPLETED = 0
EXIT_JOB_FAILED = 1
EXIT_REQUEST_ERROR = 2
EXIT_INTERRUPTED = 130  # the shell convention for SIGINT (128 + 2)

# Generous: the API answers at once, but a download of a large image on a slow link takes a while.
HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
WS_OPEN_TIMEOUT_SECONDS = 10.0
# Closing is a courtesy to the server; Ctrl-C must not wait long for it.
WS_CLOSE_TIMEOUT_SECONDS = 1.0
# A final job_update is never dropped by the server, but a quiet socket is checked against the job
# itself now and then, so a lost message can never leave the command waiting forever.
WS_QUIET_CHECK_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.5
STATUS_CHECK_TIMEOUT_SECONDS = 3.0  # after Ctrl-C: worth a short wait for an exact message, no more
# How long polling tolerates a server that does not answer (a restart takes a few seconds).
UNREACHABLE_GRACE_SECONDS = 30.0


class ClientError(Exception):
    """A request the server refused, or a server that could not be reached: exit code 2."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return f"{self.message} ({self.code})" if self.code else self.message


@dataclass(frozen=True)
class ServerTarget:
    url: str
    headers: dict[str, str]
    socket: str | None = None  # a Unix socket path: HTTP and WebSocket go through it, url names no host

    def http_client(self) -> httpx.Client:
        transport = httpx.HTTPTransport(uds=self.socket) if self.socket else None
        return httpx.Client(
            base_url=self.url, headers=self.headers, timeout=HTTP_TIMEOUT, transport=transport
        )

    def open_websocket(self, path_and_query: str) -> ClientConnection:
        options: dict[str, Any] = {
            "additional_headers": self.headers,
            "open_timeout": WS_OPEN_TIMEOUT_SECONDS,
            "close_timeout": WS_CLOSE_TIMEOUT_SECONDS,
        }
        if self.socket:
            return unix_connect(self.socket, uri=f"{self.ws_base}{path_and_query}", **options)
        return connect(f"{self.ws_base}{path_and_query}", **options)

    @property
    def ws_base(self) -> str:
        parts = urlsplit(self.url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def target_from(args: argparse.Namespace) -> ServerTarget:
    """Flags win over the environment, which wins over the default local server."""
    socket_path = args.socket or (None if args.server else os.environ.get("SDCPP_REST_SOCKET"))
    if socket_path:
        # The server's identity comes from the socket; the URL only fills the Host header.
        return ServerTarget(
            url="http://localhost", headers=_credential_headers(args, None), socket=socket_path
        )
    url = (args.server or os.environ.get("SDCPP_REST_URL") or DEFAULT_SERVER_URL).rstrip("/")
    return ServerTarget(url=url, headers=_credential_headers(args, url))


def _credential_headers(args: argparse.Namespace, url: str | None) -> dict[str, str]:
    """Flags, then the environment, then (with neither a key nor a token) the token `login` kept for
    this server URL; over a Unix socket the peer's uid is the identity and nothing stored is sent."""
    api_key = args.api_key or os.environ.get("SDCPP_REST_API_KEY")
    token = args.token or os.environ.get("SDCPP_REST_TOKEN")
    if not api_key and not token and url is not None and getattr(args, "command", None) != "login":
        token = stored_token(url)
    headers: dict[str, str] = {}
    if api_key:
        headers["X-API-Key"] = api_key
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


# --- argument parsing ---


def _seed(value: str) -> int | str:
    if value == "random":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be 'random' or an integer") from None


def connection_options() -> argparse.ArgumentParser:
    """The flags naming the server and credentials, shared by every client command."""
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument(
        "--server", metavar="URL", help=f"server URL (SDCPP_REST_URL, default {DEFAULT_SERVER_URL})"
    )
    connection.add_argument(
        "--api-key", metavar="KEY", help="API key, sent as X-API-Key (prefer SDCPP_REST_API_KEY)"
    )
    connection.add_argument("--token", metavar="TOKEN", help="bearer token (prefer SDCPP_REST_TOKEN)")
    connection.add_argument(
        "--socket",
        metavar="PATH",
        help="talk to a server started with --socket PATH (SDCPP_REST_SOCKET); with auth_method unix "
        "your own user is the identity, no credentials needed",
    )
    return connection


def add_client_parsers(subparsers: argparse._SubParsersAction) -> None:
    connection = connection_options()

    # Generation options default to None so that only what the user set is sent: the server's own
    # defaults and validation stay the single source of truth.
    generate = subparsers.add_parser(
        "generate", parents=[connection], help="generate images on a running server"
    )
    generate.add_argument("prompt", help="what to draw")
    generate.add_argument(
        "--model", dest="model_name", metavar="NAME", help="checkpoint name (see GET /api/models)"
    )
    generate.add_argument("--negative", dest="negative_prompt", metavar="TEXT", help="what to avoid")
    generate.add_argument("--width", type=int)
    generate.add_argument("--height", type=int)
    generate.add_argument("--steps", type=int)
    generate.add_argument("--cfg-scale", type=float)
    generate.add_argument("--sampler", dest="sampling_method", metavar="NAME", help="see GET /api/samplers")
    generate.add_argument("--scheduler", metavar="NAME", help="see GET /api/schedulers")
    generate.add_argument("--seed", type=_seed, metavar="SEED", help="'random' (default) or an integer")
    generate.add_argument(
        "--batch-count", type=int, metavar="N", help="images to make (seeds seed, seed+1, ...)"
    )
    generate.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="PATH",
        help="file to save (a batch becomes NAME_0.png, NAME_1.png, ...) or an existing folder; "
        "default: <job id>_<n>.png in the current folder",
    )
    generate.add_argument(
        "--poll", action="store_true", help="follow the job by polling instead of the WebSocket"
    )

    queue = subparsers.add_parser("queue", parents=[connection], help="list the queue of a running server")
    queue.add_argument("--json", action="store_true", help="print the server's JSON reply")
    queue.add_argument("--limit", type=int, help="finished jobs to include (server default 50)")

    cancel = subparsers.add_parser("cancel", parents=[connection], help="cancel a queued or running job")
    cancel.add_argument("job_id", help="the job id that generate or queue showed")


def run_client_command(args: argparse.Namespace) -> int:
    target = target_from(args)
    try:
        with target.http_client() as client:
            if args.command == "generate":
                return GenerateCommand(args, target, client).run()
            if args.command == "queue":
                return show_queue(client, args)
            return cancel_job(client, args.job_id)
    except ClientError as exc:
        write_err(f"sdcpp-rest: error: {exc}")
        return EXIT_REQUEST_ERROR
    except KeyboardInterrupt:
        write_err("\nsdcpp-rest: interrupted")
        return EXIT_INTERRUPTED


# --- HTTP helpers ---


def _request(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """The response of a successful request; the API's error message and code otherwise."""
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        raise ClientError(f"cannot reach the server at {client.base_url}: {exc}") from exc
    if response.is_success:
        return response
    try:
        error = response.json()["error"]
        message, code = str(error["message"]), str(error.get("code") or f"HTTP_{response.status_code}")
    except (ValueError, KeyError, TypeError):
        # Not the API's error body (a proxy in front of the server, say): show what came back.
        message, code = response.text[:500] or response.reason_phrase, f"HTTP_{response.status_code}"
    if response.status_code == 401 and not url.endswith(LOGIN_PATH):
        message += "; run `sdcpp-rest login`, or set SDCPP_REST_API_KEY or SDCPP_REST_TOKEN"
    raise ClientError(message, code)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ClientError(
            f"the server answered with something that is not JSON: {response.text[:200]}"
        ) from None
    if not isinstance(body, dict):
        raise ClientError("the server answered with JSON that is not an object")
    return body


# --- generate ---


def output_paths(job_id: str, count: int, output: Path | None, batch: bool) -> list[Path]:
    """Where each image goes: -o FILE for one image, FILE_n for a batch, else <job id>_<n>.png."""
    if output is None or output.is_dir():
        folder = output if output is not None else Path.cwd()
        return [folder / f"{job_id}_{n}.png" for n in range(count)]
    if not batch and count == 1:
        return [output]
    return [output.with_name(f"{output.stem}_{n}{output.suffix}") for n in range(count)]


class GenerateCommand:
    """Submit, follow, download: one instance per `sdcpp-rest generate`."""

    def __init__(self, args: argparse.Namespace, target: ServerTarget, client: httpx.Client) -> None:
        self.args = args
        self.target = target
        self.client = client
        self.progress = ProgressLine(sys.stderr)
        self.job_id = ""
        self.last_status: str = JobStatus.QUEUED

    def status_now(self) -> str:
        """The job's status as the server has it now (the last message seen may lag behind), or the
        last one seen when the server does not answer at once or Ctrl-C is pressed again."""
        try:
            response = self.client.get(f"/api/queue/job/{self.job_id}", timeout=STATUS_CHECK_TIMEOUT_SECONDS)
            return str(response.json()["status"]) if response.status_code == 200 else self.last_status
        except (httpx.HTTPError, ValueError, KeyError, KeyboardInterrupt):
            return self.last_status

    def body(self) -> dict[str, Any]:
        names: tuple[str, ...] = ("model_name", "negative_prompt", "width", "height", "steps", "cfg_scale")
        names += ("sampling_method", "scheduler", "seed", "batch_count")
        body: dict[str, Any] = {"prompt": self.args.prompt}
        body.update(
            {name: getattr(self.args, name) for name in names if getattr(self.args, name) is not None}
        )
        return body

    def run(self) -> int:
        output: Path | None = self.args.output
        # Refuse a path we could not write before the server spends minutes on the images.
        if output is not None and not output.is_dir() and not output.parent.is_dir():
            raise ClientError(f"output folder {output.parent} does not exist")
        try:
            reply = _json(_request(self.client, "POST", "/api/generate/text2img", json=self.body()))
        except KeyboardInterrupt:
            write_err("\nsdcpp-rest: interrupted before the server answered; check `sdcpp-rest queue`")
            return EXIT_INTERRUPTED
        self.job_id = str(reply["job_id"])
        self.progress.note(f"job {self.job_id} queued (seed {reply.get('seed')})")
        try:
            final = self.follow()
        except KeyboardInterrupt:
            self.progress.end()
            write_err(
                f"sdcpp-rest: interrupted; job {self.job_id} is still {self.status_now()} on the server "
                f"(cancel it with `sdcpp-rest cancel {self.job_id}`)"
            )
            return EXIT_INTERRUPTED
        self.progress.end()
        status = final.get("status")
        if status == JobStatus.COMPLETED:
            return self.download(final)
        if status == JobStatus.FAILED:
            code = final.get("error_code")
            write_err(
                f"job {self.job_id} failed: {final.get('error') or 'no reason given'}"
                + (f" ({code})" if code else "")
            )
        else:
            reason = f": {final['error']}" if final.get("error") else ""
            write_err(f"job {self.job_id} was cancelled{reason}")
        return EXIT_JOB_FAILED

    def on_update(self, update: dict[str, Any]) -> None:
        self.last_status = str(update.get("status") or self.last_status)
        self.progress.show(describe_progress(update))

    def get_job(self) -> dict[str, Any]:
        return _json(_request(self.client, "GET", f"/api/queue/job/{self.job_id}"))

    def follow(self) -> dict[str, Any]:
        """The job's final state, from the WebSocket when it works, else by polling."""
        if not self.args.poll:
            final = self.follow_websocket()
            if final is not None:
                return final
        return self.follow_polling()

    def follow_websocket(self) -> dict[str, Any] | None:
        try:
            ws = self.target.open_websocket(f"/ws?{urlencode({'job_id': self.job_id})}")
        except (OSError, WebSocketException) as exc:
            self.progress.note(f"WebSocket unavailable ({exc}); polling the job instead")
            return None
        with ws:
            while True:
                try:
                    raw = ws.recv(timeout=WS_QUIET_CHECK_SECONDS)
                except TimeoutError:
                    try:
                        job = self.get_job()
                    except ClientError as exc:
                        if exc.code is not None:
                            raise
                        return None  # the server does not answer: polling waits a while for it
                    self.on_update(job)
                    if job.get("status") in FINAL_STATUSES:
                        return job
                    continue
                except ConnectionClosed as exc:
                    self.progress.note(f"WebSocket closed ({exc}); polling the job instead")
                    return None
                try:
                    message = json.loads(raw)
                    kind, data = message["type"], message["data"]
                except (ValueError, KeyError, TypeError):
                    continue  # not for us: the protocol only grows by adding message types and fields
                if kind == "job_update" and isinstance(data, dict) and data.get("job_id") == self.job_id:
                    self.on_update(data)
                    if data.get("status") in FINAL_STATUSES:
                        return data

    def follow_polling(self) -> dict[str, Any]:
        unreachable_since: float | None = None
        while True:
            try:
                job = self.get_job()
            except ClientError as exc:
                # Only a server that does not answer is worth waiting for; a refusal is final.
                if exc.code is not None:
                    raise
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since > UNREACHABLE_GRACE_SECONDS:
                    raise ClientError(f"{exc.message}; job {self.job_id} may still be on the server") from exc
                time.sleep(POLL_INTERVAL_SECONDS)
                continue
            unreachable_since = None
            self.on_update(job)
            if job.get("status") in FINAL_STATUSES:
                return job
            time.sleep(POLL_INTERVAL_SECONDS)

    def download(self, final: dict[str, Any]) -> int:
        outputs = final.get("outputs")
        if not outputs:
            outputs = self.get_job().get("outputs") or []
        if not outputs:
            write_err(f"job {self.job_id} completed without output files")
            return EXIT_JOB_FAILED
        batch = (self.args.batch_count or 1) > 1
        paths = output_paths(self.job_id, len(outputs), self.args.output, batch)
        for item, path in zip(outputs, paths, strict=True):
            response = _request(self.client, "GET", str(item["url"]))
            try:
                path.write_bytes(response.content)
            except OSError as exc:
                raise ClientError(f"cannot write {path}: {exc}") from exc
            write_out(str(path))
        return EXIT_COMPLETED


# --- queue and cancel ---


def show_queue(client: httpx.Client, args: argparse.Namespace) -> int:
    params = {"limit": args.limit} if args.limit is not None else None
    reply = _json(_request(client, "GET", "/api/queue/status", params=params))
    if args.json:
        write_out(json.dumps(reply, indent=2))
        return EXIT_COMPLETED
    for text in format_queue(reply.get("queue") or {}, shutil.get_terminal_size((120, 20)).columns):
        write_out(text)
    return EXIT_COMPLETED


def cancel_job(client: httpx.Client, job_id: str) -> int:
    reply = _json(_request(client, "POST", "/api/queue/cancel", json={"job_id": job_id}))
    write_out(f"{reply.get('message') or 'cancelled'}: {job_id}")
    return EXIT_COMPLETED
