"""One settings object: defaults < TOML config file < STABLE_DIFFUSION_* environment < command line."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sdcpp_rest.config_files import config_files
from sdcpp_rest.schemas.parameters import LoraApplyModeName
from sdcpp_rest.schemas.speed import SpeedName

ENV_PREFIX = "STABLE_DIFFUSION_"
AUTH_METHODS = ("none", "jwt", "api_key", "unix", "pam")


# The job limits a role may override (role_limits); each is also a setting of its own.
LIMIT_NAMES = ("max_queued_jobs_per_user", "max_job_pixels", "max_job_steps", "max_submissions_per_minute")


MAX_WORKERS = 64
# A loaded checkpoint takes about its file size in memory, plus activations (measured with the
# random-weight SD1.5 model: peak RSS about 1.2x the file; bench/bench_model_memory.py).
LOADED_BYTES_PER_FILE_BYTE = 1.5


def _available_memory_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class ConfigError(Exception):
    """Invalid configuration: the message is one line naming the setting."""


CacheModeName = Literal["none", "ucache", "easycache", "dbcache", "taylorseer", "cache_dit", "spectrum"]


class Settings(BaseSettings):
    """Every setting of the server. Each field maps to `STABLE_DIFFUSION_<NAME>` and to a TOML key."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    # --- server ---
    host: str = Field("0.0.0.0", description="Address the HTTP server listens on.")
    port: int = Field(8080, ge=1, le=65535, description="TCP port of the HTTP server.")
    verbose: bool = Field(False, description="Debug logging (also turned on by RUST_LOG=debug).")
    max_request_bytes: int = Field(
        50 * 1024 * 1024, ge=1024, description="Largest request body accepted, in bytes."
    )
    log_format: str = Field(
        "text", pattern="^(text|json)$", description="Log lines as text or as one JSON object per line."
    )
    restart_grace_seconds: float = Field(
        60.0,
        ge=0,
        le=3600,
        description="On restart or SIGTERM, how long a running job may finish before it is requeued.",
    )

    # --- storage ---
    data_dir: Path = Field(Path("data"), description="Folder for the database and other state.")
    models_dir: Path | None = Field(None, description="Models folder (default: <data_dir>/models).")
    output_dir: Path | None = Field(None, description="Outputs folder (default: <data_dir>/outputs).")
    checkpoints_dir: Path | None = Field(None, description="Checkpoints (default: <models_dir>/checkpoints).")
    vae_dir: Path | None = Field(None, description="Stand-alone VAEs (default: <models_dir>/vae).")
    lora_dir: Path | None = Field(None, description="LoRAs (default: <models_dir>/lora).")
    controlnet_dir: Path | None = Field(None, description="ControlNets (default: <models_dir>/controlnet).")
    embeddings_dir: Path | None = Field(None, description="Embeddings (default: <models_dir>/embeddings).")
    esrgan_dir: Path | None = Field(None, description="ESRGAN upscalers (default: <models_dir>/esrgan).")
    taesd_dir: Path | None = Field(None, description="TAESD decoders (default: <models_dir>/taesd).")
    clip_dir: Path | None = Field(None, description="Text encoders (default: <models_dir>/clip).")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the job database (default: SQLite file in data_dir)."
    )

    # --- engine ---
    max_concurrent_generations: int | Literal["auto"] = Field(
        1,
        description="Engine worker processes, each running one generation at a time (1 to 64), or auto: "
        "one per core while the available memory holds that many copies of the largest checkpoint.",
    )
    n_threads: int = Field(
        -1,
        ge=-1,
        le=1024,
        description="Engine threads per worker (-1: the machine's cores shared among the workers). Never "
        "more than cores / workers: more engine threads than cores slow every job down.",
    )
    scheduling: str = Field(
        "fifo",
        pattern="^(fifo|fair)$",
        description="Which queued job runs next: fifo (first come, first served) or fair (the user with "
        "the least engine time in the last fair_share_window_s first; first come within a user).",
    )
    fair_share_window_s: float = Field(
        3600.0, gt=0, description="How far back engine time counts for scheduling=fair."
    )
    default_model: str | None = Field(
        None, description="Checkpoint used when a request names none (default: the loaded or only one)."
    )
    max_job_attempts: int = Field(
        2, ge=1, le=10, description="Times a job is started before a server crash during it fails it."
    )
    worker_start_timeout_s: float = Field(60.0, gt=0, description="Seconds a new worker may take to start.")
    claim_lease_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="How long a worker's claim on a job holds without renewal (it renews three times per "
        "lease); after that any node requeues the job (once, then fails it, as after a crash).",
    )
    run_workers: bool = Field(
        True,
        description="Run engine workers in this server; false (serve --no-workers) makes an API node that "
        "only queues and serves, for `sdcpp-rest worker` processes on a shared PostgreSQL database.",
    )
    node_name: str | None = Field(
        None,
        max_length=120,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="This process's name in the cluster's workers table (default: the host name).",
    )
    max_input_image_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, description="Largest input image (decoded bytes) a request may carry."
    )
    max_input_image_pixels: int = Field(
        4096 * 4096, ge=64 * 64, description="Most pixels (width x height) of an input image."
    )

    # --- outputs retention, image download, metrics ---
    output_max_age_days: float = Field(
        0.0, ge=0, description="Delete finished jobs (files and rows) older than this many days (0: never)."
    )
    output_max_total_mb: float = Field(
        0.0, ge=0, description="Delete the oldest finished jobs while outputs exceed this many MB (0: off)."
    )
    output_cleanup_interval_s: float = Field(
        3600.0, ge=0.1, le=86400 * 7, description="Seconds between two runs of the output retention cleanup."
    )
    image_download_allow_private: bool = Field(
        False,
        description="Let GET /api/image/download fetch from loopback, private and link-local addresses "
        "(cloud metadata addresses stay refused unless listed in image_download_allowed_networks).",
    )
    image_download_allowed_networks: str = Field(
        "", description="Comma-separated addresses or CIDR networks image download may always fetch from."
    )
    image_download_max_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, description="Largest image GET /api/image/download fetches, in bytes."
    )
    image_download_timeout_s: float = Field(
        15.0, gt=0, le=300, description="Seconds one image download may take in all (redirects included)."
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="When set, GET /metrics needs 'Authorization: Bearer <token>'; unset, it needs a "
        "caller with system:read when auth is on (its labels name models).",
    )
    metrics_public: bool = Field(
        False, description="GET /metrics without a token or user even when auth is on (opt-out)."
    )
    public_url: str = Field(
        "",
        description="The server's address as clients reach it (e.g. https://sd.example.com), for absolute "
        "URLs in replies (the OpenAI API's image url); unset, such URLs are relative. Never taken "
        "from a request's Host header.",
    )

    # --- authentication ---
    auth_method: str = Field(
        "none", description="Comma-separated list of enabled methods: none, jwt, api_key, unix, pam."
    )
    jwt_secret: SecretStr | None = Field(
        None,
        description="HS256 signing secret (default: generated once into <data_dir>/jwt_secret, mode 0600).",
    )
    jwt_expiry_minutes: int = Field(60, ge=1, le=525600, description="Lifetime of a login token.")
    output_url_ttl_seconds: int = Field(
        3600,
        ge=60,
        le=30 * 86400,
        description="With auth on, how long a signed output URL the server hands out keeps working "
        "(at least this long, at most a quarter more).",
    )
    admin_username: str | None = Field(None, description="First admin, created on start if no admin exists.")
    admin_password: SecretStr | None = Field(None, description="Password of admin_username.")
    default_role: str = Field(
        "user", pattern="^(user|admin)$", description="Role of users created by PAM/Unix."
    )
    pam_service: str = Field("login", description="PAM service used to check passwords.")
    pam_admin_groups: str = Field("", description="Comma-separated Unix groups whose members become admin.")
    unix_socket: Path | None = Field(None, description="Also listen on this Unix socket (--socket).")
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses or CIDR networks of reverse proxies: only they may send "
        "X-Unix-User for another user, and only their X-Forwarded-For names the client address.",
    )
    # --- limits (0 = unlimited; role_limits overrides them per role) ---
    max_queued_jobs_per_user: int = Field(
        100, ge=0, description="Jobs a user may have waiting in the queue (429 beyond, with Retry-After)."
    )
    max_job_pixels: int = Field(
        1024 * 1024 * 16,
        ge=0,
        description="Largest job: width x height x images, at its largest pass (400 beyond: it never fits).",
    )
    max_job_steps: int = Field(
        1500,
        ge=0,
        description="Most sampling steps of one job: steps (plus hires steps) x images (400 beyond).",
    )
    max_submissions_per_minute: int = Field(
        60,
        ge=0,
        description="Generation requests a user may make in a minute (429 beyond, with Retry-After).",
    )
    role_limits: dict[str, dict[str, int]] = Field(
        default_factory=lambda: {"admin": dict.fromkeys(LIMIT_NAMES, 0)},
        description="Per-role overrides of the limits, e.g. {user = {max_queued_jobs_per_user = 10}} "
        "(TOML) or JSON in the environment. Default: admins unlimited.",
    )
    login_attempts_per_minute: int = Field(
        5,
        ge=1,
        le=1000,
        description="Failed logins a source address may make per minute; once a user has had this many, "
        "sources that failed for that user wait (a source that has not failed still gets in).",
    )
    # --- model files: trash, idle unload (issue 16) ---
    model_trash_days: float = Field(
        7.0,
        ge=0,
        description="Days a deleted model stays in the models folder's .trash/ (restorable) before it is "
        "purged (0: kept until restored).",
    )
    model_idle_unload_seconds: float = Field(
        0.0,
        ge=0,
        description="Free a worker's loaded model after this many seconds without a job (0: never); the "
        "next job loads it again.",
    )
    # --- model download and upload (issue 16) ---
    model_download_allow_private: bool = Field(
        False,
        description="Let model downloads reach loopback, private and link-local addresses (cloud metadata "
        "addresses stay refused unless listed in model_download_allowed_networks).",
    )
    model_download_allowed_networks: str = Field(
        "", description="Comma-separated addresses/CIDR networks model downloads may always reach."
    )
    model_download_max_bytes: int = Field(
        64 * 1024**3, ge=1, description="Largest model file a download or upload may write."
    )
    model_download_timeout_s: float = Field(
        60.0, gt=0, le=3600, description="Seconds a model download may wait for the next bytes (or a hop)."
    )
    model_download_min_bytes_per_s: int = Field(
        8 * 1024,
        ge=0,
        description="A model download slower than this many bytes a second, on average over "
        "model_download_rate_window_s, fails (0: no floor): a server trickling bytes would hold the "
        "download runner for ever, since each read alone stays under model_download_timeout_s.",
    )
    model_download_rate_window_s: float = Field(
        60.0, gt=0, le=3600, description="Seconds over which model_download_min_bytes_per_s is averaged."
    )
    allow_pickle_models: bool = Field(
        False,
        description="Accept PyTorch pickle files (.ckpt, .pt, .pth, .bin) as uploads and downloads. This "
        "server never unpickles them, but other tools sharing the models folder may, and a pickle runs "
        "code when loaded; off by default: prefer .safetensors or .gguf.",
    )
    model_min_free_bytes: int = Field(
        1024**3,
        ge=0,
        description="Free disk space a download or upload must leave in the models folder; checked before "
        "and while it is written.",
    )
    huggingface_endpoint: str = Field(
        "https://huggingface.co",
        description="Base URL of the Hugging Face hub for hf://ORG/REPO/FILE and its resolve URLs "
        "(HF_ENDPOINT-style: a mirror or a local stand-in).",
    )
    huggingface_token: SecretStr | None = Field(
        None, description="Token sent (as Bearer) only to huggingface_endpoint's host, for gated models."
    )
    civitai_endpoint: str = Field(
        "https://civitai.com", description="Base URL of CivitAI, whose host alone receives civitai_token."
    )
    civitai_token: SecretStr | None = Field(
        None, description="CivitAI API token sent (as Bearer) only to civitai_endpoint's host."
    )
    lora_apply_mode: LoraApplyModeName = Field(
        "auto",
        description="How LoRAs are applied when a request names no lora_apply_mode: immediately (merged "
        "into the weights at the start of a job), at_runtime (computed beside them at each step), or "
        "auto (the engine's rule: at_runtime on quantized weights, else immediately). bench/"
        "bench_lora_apply.py measures the choice.",
    )
    default_speed: SpeedName = Field(
        "quality",
        description="Speed preset of requests that name no speed: quality (changes nothing), balanced "
        "or fast (schemas/speed.py's table, per model family and engine device; /api/parameters lists it).",
    )
    default_cache_mode: CacheModeName = Field(
        "none",
        description="Step caching of requests that name no cache_mode, where the model's family takes "
        "it (ucache: UNet models; easycache, dbcache, taylorseer, cache_dit: DiT; spectrum: both).",
    )

    @field_validator("auth_method")
    @classmethod
    def _known_auth_methods(cls, value: str) -> str:
        methods = [m.strip().lower() for m in value.split(",") if m.strip()]
        unknown = [m for m in methods if m not in AUTH_METHODS]
        if unknown or not methods:
            raise ValueError(f"unknown method(s) {unknown or value!r}; choose from {', '.join(AUTH_METHODS)}")
        if "none" in methods and len(methods) > 1:
            raise ValueError("'none' cannot be combined with other methods")
        return ",".join(methods)

    @field_validator("huggingface_endpoint", "civitai_endpoint")
    @classmethod
    def _http_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) base URL")
        return value.rstrip("/")

    @field_validator("role_limits")
    @classmethod
    def _known_limits(cls, value: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        for role, limits in value.items():
            unknown = sorted(set(limits) - set(LIMIT_NAMES))
            if unknown:
                raise ValueError(
                    f"role {role!r}: unknown limit(s) {unknown}; known: {', '.join(LIMIT_NAMES)}"
                )
            if any(number < 0 for number in limits.values()):
                raise ValueError(f"role {role!r}: limits are 0 (unlimited) or more")
        return value

    @field_validator("max_concurrent_generations")
    @classmethod
    def _worker_range(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= MAX_WORKERS:
            raise ValueError(f"must be from 1 to {MAX_WORKERS}, or auto")
        return value

    def worker_count(self, model_bytes: int, available_bytes: int | None = None) -> int:
        """The engine workers to run: the setting, or for auto one per core while the available
        memory holds a loaded copy of the largest checkpoint (`model_bytes`) per worker."""
        if self.max_concurrent_generations != "auto":
            return int(self.max_concurrent_generations)
        cores = len(os.sched_getaffinity(0)) or 1
        available = available_bytes if available_bytes is not None else _available_memory_bytes()
        per_worker = max(int(model_bytes * LOADED_BYTES_PER_FILE_BYTE), 1)
        return max(1, min(cores, MAX_WORKERS, available // per_worker))

    def engine_threads_per_worker(self, workers: int, cpu_count: int | None = None) -> int:
        """Each worker's share of the cores: n_threads when set, but never more than cores / workers."""
        cores = cpu_count or len(os.sched_getaffinity(0)) or 1
        share = max(1, cores // workers)
        return min(self.n_threads, share) if self.n_threads > 0 else share

    @field_validator("image_download_allowed_networks", "trusted_proxies", "model_download_allowed_networks")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        for item in (part.strip() for part in value.split(",")):
            if item:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError as exc:
                    raise ValueError(f"{item!r} is not an IP address or network: {exc}") from None
        return value

    @property
    def auth_methods(self) -> frozenset[str]:
        return frozenset(self.auth_method.split(","))

    @property
    def auth_enabled(self) -> bool:
        return "none" not in self.auth_methods

    @model_validator(mode="after")
    def _fill_derived_paths(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        self.models_dir = (self.models_dir or self.data_dir / "models").expanduser().resolve()
        self.output_dir = (self.output_dir or self.data_dir / "outputs").expanduser().resolve()
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.data_dir / 'sdcpp-rest.db'}"
        if "debug" in os.environ.get("RUST_LOG", "").lower():
            self.verbose = True
        return self

    def model_type_folders(self) -> dict[str, Path]:
        """The type folders configured on their own, by canonical folder name (checkpoints, vae, ...)."""
        configured = {
            "checkpoints": self.checkpoints_dir,
            "vae": self.vae_dir,
            "lora": self.lora_dir,
            "controlnet": self.controlnet_dir,
            "embeddings": self.embeddings_dir,
            "esrgan": self.esrgan_dir,
            "taesd": self.taesd_dir,
            "clip": self.clip_dir,
        }
        return {name: path.expanduser().resolve() for name, path in configured.items() if path is not None}

    @property
    def models_path(self) -> Path:
        assert self.models_dir is not None  # filled by the validator
        return self.models_dir

    @property
    def output_path(self) -> Path:
        assert self.output_dir is not None  # filled by the validator
        return self.output_dir


class _DictSource(PydanticBaseSettingsSource):
    """Settings values from the TOML config file, below the environment in priority."""

    def __init__(self, settings_cls: type[BaseSettings], values: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._values = values

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    # Accept both a flat file and one with a [server]/[engine]/[storage] table per group.
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def load_settings(config_file: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Build the settings; raise ConfigError with one line naming the bad setting. The config files are
    those of config_files(): the explicit one, else the standard places."""
    file_values: dict[str, Any] = {}
    for path in config_files(config_file):
        file_values.update(_read_toml(path))

    class _SettingsWithFile(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            # init = command line, then the environment, then the TOML file.
            return (init_settings, env_settings, _DictSource(settings_cls, file_values))

    try:
        return _SettingsWithFile(**{k: v for k, v in (overrides or {}).items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "settings"
        env_name = f"{ENV_PREFIX}{name.upper()}"
        raise ConfigError(f"invalid setting '{name}' ({env_name}): {first['msg']}") from None
