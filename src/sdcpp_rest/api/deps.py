"""Dependencies shared by the routers: one per service (JobsDep, CatalogDep, ...), the request's
principal and permission checks (CurrentUser, AdminUser, ...). A route names only what it uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeAlias, TypeVar

from fastapi import Depends, FastAPI, Request

from sdcpp_rest.auth.permissions import Permission, Principal
from sdcpp_rest.auth.service import AuthService, RequestCredentials
from sdcpp_rest.catalog.files import ModelFiles
from sdcpp_rest.catalog.service import CatalogService
from sdcpp_rest.catalog.trash import ModelTrash
from sdcpp_rest.catalog.uploads import ModelUploads
from sdcpp_rest.config import Settings
from sdcpp_rest.container import Services, ServicesHolder
from sdcpp_rest.downloads.images import ImageDownloader
from sdcpp_rest.errors import ApiError, ErrorCode
from sdcpp_rest.jobs.estimate import EstimateService
from sdcpp_rest.jobs.model_converts import ModelConverts
from sdcpp_rest.jobs.model_downloads import ModelDownloads
from sdcpp_rest.jobs.model_loads import ModelLoads
from sdcpp_rest.jobs.model_removal import ModelRemoval
from sdcpp_rest.jobs.notifier import JobNotifier
from sdcpp_rest.jobs.planning import JobPlanner
from sdcpp_rest.jobs.scheduler.scheduler import Scheduler
from sdcpp_rest.jobs.service import JobService
from sdcpp_rest.monitoring import log_context
from sdcpp_rest.monitoring.metrics import ServerMetrics
from sdcpp_rest.ops.restart import ServerRestarter
from sdcpp_rest.outputs.files import OutputStore
from sdcpp_rest.outputs.signing import OutputUrlSigner
from sdcpp_rest.styles.service import StyleService

T = TypeVar("T")


def services_of(app: FastAPI) -> Services:
    """The app's current services (a restart swaps them; see container.ServicesHolder)."""
    holder: ServicesHolder = app.state.holder
    return holder.current


def _service(pick: Callable[[Services], T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency answering one service of the current build.

    `async def` although it awaits nothing: it only reads an attribute, and a plain `def` dependency
    costs a hop to the thread pool on every request (measured: bench/bench_request_cpu.py).
    """

    async def dependency(request: Request) -> T:
        return pick(services_of(request.app))

    return dependency


async def get_restarter(request: Request) -> ServerRestarter:  # no I/O: no thread hop
    restarter: ServerRestarter = request.app.state.restarter
    return restarter


SettingsDep = Annotated[Settings, Depends(_service(lambda s: s.settings))]
JobsDep = Annotated[JobService, Depends(_service(lambda s: s.jobs))]
PlannerDep = Annotated[JobPlanner, Depends(_service(lambda s: s.planner))]
SchedulerDep = Annotated[Scheduler, Depends(_service(lambda s: s.scheduler))]
NotifierDep = Annotated[JobNotifier, Depends(_service(lambda s: s.notifier))]
CatalogDep = Annotated[CatalogService, Depends(_service(lambda s: s.catalog))]
ModelFilesDep = Annotated[ModelFiles, Depends(_service(lambda s: s.model_files))]
ModelLoadsDep = Annotated[ModelLoads, Depends(_service(lambda s: s.model_loads))]
EstimatorDep = Annotated[EstimateService, Depends(_service(lambda s: s.estimator))]
OutputsDep = Annotated[OutputStore, Depends(_service(lambda s: s.outputs))]
OutputSignerDep = Annotated[OutputUrlSigner | None, Depends(_service(lambda s: s.output_signer))]
DownloaderDep = Annotated[ImageDownloader, Depends(_service(lambda s: s.downloader))]
MetricsDep = Annotated[ServerMetrics, Depends(_service(lambda s: s.metrics))]
AuthServiceDep = Annotated[AuthService, Depends(_service(lambda s: s.auth))]
ServicesDep = Annotated[Services, Depends(_service(lambda s: s))]  # for the status summary only
RestarterDep = Annotated[ServerRestarter, Depends(get_restarter)]
ModelTrashDep = Annotated[ModelTrash, Depends(_service(lambda s: s.model_trash))]
ModelRemovalDep = Annotated[ModelRemoval, Depends(_service(lambda s: s.model_removal))]
ModelDownloadsDep = Annotated[ModelDownloads, Depends(_service(lambda s: s.model_downloads))]
ModelUploadsDep = Annotated[ModelUploads, Depends(_service(lambda s: s.model_uploads))]
ModelConvertsDep = Annotated[ModelConverts, Depends(_service(lambda s: s.model_converts))]
StylesDep = Annotated[StyleService, Depends(_service(lambda s: s.styles))]


class AuthRequired(ApiError):
    code, status_code = ErrorCode.AUTH_REQUIRED, 401

    def __init__(self) -> None:
        super().__init__(
            "authentication required: send Authorization: Bearer <token> or X-API-Key",
            headers={"WWW-Authenticate": "Bearer"},
        )


class PermissionDenied(ApiError):
    code, status_code = ErrorCode.INSUFFICIENT_PERMISSIONS, 403


def optional_principal(request: Request, auth: AuthServiceDep) -> Principal | None:
    """The caller, or None for a guest. A wrong credential is an error even on public routes."""
    client = request.client.host if request.client else None
    credentials = RequestCredentials.from_headers(request.headers, client)
    principal = auth.authenticate(credentials)
    request.state.principal = principal
    log_context.set_user(principal.username if principal else None)
    return principal


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets the request through only for a principal holding `permission`."""

    # No I/O (the principal is already known): `async def` spares a thread-pool hop per request.
    async def dependency(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
        if principal is None:
            raise AuthRequired()
        if not principal.can(permission):
            raise PermissionDenied(
                f"this needs the '{permission.value}' permission; your role is {principal.role}"
            )
        return principal

    return dependency


async def authenticated(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise AuthRequired()
    return principal


MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]  # None: a guest
AuthenticatedDep = Annotated[Principal, Depends(authenticated)]
GenerateDep = Annotated[Principal, Depends(require(Permission.GENERATE))]
QueueReadDep = Annotated[Principal, Depends(require(Permission.QUEUE_READ))]
QueueManageDep = Annotated[Principal, Depends(require(Permission.QUEUE_MANAGE_OWN))]
ModelsReadDep = Annotated[Principal, Depends(require(Permission.MODELS_READ))]
ModelsManageDep = Annotated[Principal, Depends(require(Permission.MODELS_MANAGE))]
SystemReadDep = Annotated[Principal, Depends(require(Permission.SYSTEM_READ))]
SystemManageDep = Annotated[Principal, Depends(require(Permission.SYSTEM_MANAGE))]
UsersManageDep = Annotated[Principal, Depends(require(Permission.USERS_MANAGE))]
CurrentUser: TypeAlias = AuthenticatedDep  # any authenticated caller (the local admin when auth is off)
AdminUser: TypeAlias = SystemManageDep
