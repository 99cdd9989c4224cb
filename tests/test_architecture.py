"""Guards on the shape of the code (DESIGN.md habits)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "sdcpp_rest"
ENGINE_MODULE = SRC / "engine" / "sd_engine.py"
MAX_LINES = 500


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_only_the_engine_module_imports_the_binding() -> None:
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "stable_diffusion_cpp" for name in names) and path != ENGINE_MODULE:
                offenders.append(str(path))
    assert offenders == []


def test_no_print_in_src() -> None:
    offenders = [
        f"{path}:{node.lineno}"
        for path in _modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
        and path.relative_to(SRC).as_posix() != "cli/main.py"
    ]
    assert offenders == []


def test_async_routes_await_something() -> None:
    """An `async def` route without an await would still block the loop if it did I/O: use `def`."""
    offenders = []
    for path in (SRC / "api").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.AsyncFunctionDef):
                decorated_route = any(
                    isinstance(d, ast.Call)
                    and isinstance(d.func, ast.Attribute)
                    and d.func.attr in {"get", "post", "put", "delete", "patch"}
                    for d in node.decorator_list
                )
                touches_io = any(
                    isinstance(n, ast.Call)
                    and isinstance(n.func, ast.Attribute)
                    and n.func.attr in {"list_jobs", "get", "list_checkpoints", "count_by_status"}
                    for statement in node.body
                    for n in ast.walk(statement)
                )
                has_await = any(isinstance(n, ast.Await) for n in ast.walk(node))
                if decorated_route and touches_io and not has_await:
                    offenders.append(f"{path.name}:{node.name}")
    assert offenders == []


def test_modules_stay_small() -> None:
    too_long = [f"{p}: {n}" for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert too_long == []


def test_every_setting_is_documented_in_the_readme() -> None:
    from sdcpp_rest.config import Settings

    readme = (SRC.parents[1] / "README.md").read_text()
    missing = [name for name in Settings.model_fields if f"`{name}`" not in readme]
    assert missing == []


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Every import between the project's modules, wherever it is written: top level, inside a
    function, or under `if TYPE_CHECKING:` (a cycle there is still a cycle in the design)."""
    modules = {_module_name(path): path for path in _modules()}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from package import module` imports the module; `from module import name` the module.
                targets = [
                    f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                    for alias in node.names
                ]
            graph[name].update(target for target in targets if target in modules and target != name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_modules() -> None:
    assert _cycles(_import_graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    """The guard itself works: a two-module and a three-module loop are reported."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": set()}
    assert sorted(_cycles(graph)) == [["a", "b"], ["c", "d", "e"]]


# Attribute assignments to another object than `self` that are fine, with why. Anything else that
# assigns to an attribute of an object it did not create (a service, a collaborator) is late wiring.
ALLOWED_FOREIGN_ASSIGNMENTS = {
    ("api/deps.py", "request.state.principal"),  # Starlette's per-request state
    ("app.py", "app.state.holder"),  # FastAPI's app state: the one typed holder of the services
    ("app.py", "app.state.restarter"),
    # The compat sub-applications share the main app's holder; A1111's per-user settings live on its app.
    ("compat/a1111/app.py", "app.state.holder"),
    ("compat/a1111/app.py", "app.state.options"),
    ("compat/openai/app.py", "app.state.holder"),
    ("api/image_body.py", "app.openapi"),  # FastAPI's documented hook for a custom OpenAPI document
    ("api/openapi.py", "app.openapi"),
    ("api/ws.py", "subscription.everything"),  # the connection's own subscription, a value object
    ("api/ws.py", "subscription.own_jobs"),
    ("jobs/scheduler/slot.py", "clock.total_steps"),  # the slot's private per-job step clock
    ("monitoring/log_context.py", "context.user"),  # the request's own log context
    ("monitoring/logs.py", "record.msg"),  # a logging record being formatted
    ("monitoring/logs.py", "record.args"),
    ("monitoring/logs.py", "record.exc_text"),
    ("monitoring/logs.py", "record.stack_info"),
}


def test_no_attribute_of_a_built_object_is_assigned_from_outside_it() -> None:
    offenders = []
    for path in _modules():
        relative = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if not (isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store)):
                        continue
                    base = sub.value
                    if isinstance(base, ast.Name) and base.id in ("self", "cls"):
                        continue  # an object's own attribute
                    if (relative, ast.unparse(sub)) not in ALLOWED_FOREIGN_ASSIGNMENTS:
                        offenders.append(f"{relative}:{node.lineno}: {ast.unparse(sub)}")
    assert offenders == []


def test_errors_module_knows_no_web_framework() -> None:
    """The engine worker process imports sdcpp_rest.errors: its HTTP rendering lives in the API layer."""
    tree = ast.parse((SRC / "errors.py").read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    assert imported.isdisjoint({"fastapi", "starlette", "uvicorn", "pydantic"}), imported


def test_no_module_opens_request_images_but_the_decoder() -> None:
    """Pillow's Image.open appears only in the decoder and in modules that open the server's own files
    (outputs, the engine's inputs it was handed as paths, previews of its own)."""
    own_files = {
        "jobs/image_decoding.py",  # the one decoder of request data
        "engine/sd_engine.py",  # input files the API process wrote after decoding them
        "engine/worker.py",
        "outputs/files.py",  # output PNGs
        "compat/running.py",  # output PNGs
        "compat/openai/mapping.py",  # output PNGs and live previews, re-encoded
    }
    src = SRC
    opening = {
        str(path.relative_to(src))
        for path in src.rglob("*.py")
        if "Image.open(" in path.read_text(encoding="utf-8")
    }
    assert opening <= own_files, sorted(opening - own_files)


# Issue 21: a job's status is a closed set (schemas/jobs.py: JobStatus); code compares it through the
# enum, so a renamed or added status is a type error, not a comparison that silently never matches.
STATUS_WORDS = frozenset({"queued", "processing", "completed", "failed", "cancelled"})
# Where the statuses are defined (their values are spelled there once).
STATUS_DEFINITIONS = {"schemas/jobs.py"}


def _status_literals(node: ast.expr) -> list[ast.Constant]:
    """String constants naming a status in `node`, itself or as items of a tuple, list or set."""
    items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    return [item for item in items if isinstance(item, ast.Constant) and item.value in STATUS_WORDS]


def _status_string_uses(tree: ast.AST) -> list[int]:
    """Lines comparing with a status spelled as a string, or keeping statuses in a string collection."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            if any(_status_literals(operand) for operand in [node.left, *node.comparators]):
                lines.add(node.lineno)
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) > 1:
            if len(_status_literals(node)) == len(node.elts):
                lines.add(node.lineno)
    return sorted(lines)


def test_statuses_are_compared_only_through_the_enum() -> None:
    offenders = [
        f"{path.relative_to(SRC).as_posix()}:{line}"
        for path in _modules()
        if path.relative_to(SRC).as_posix() not in STATUS_DEFINITIONS
        for line in _status_string_uses(ast.parse(path.read_text()))
    ]
    assert offenders == [], "compare job statuses with JobStatus members, not strings"


def test_the_status_check_finds_string_comparisons() -> None:
    for source in (
        'job.status == "completed"',
        'status != "queued"',
        'job.status in ("completed", "failed")',
        'FINAL = {"completed", "failed", "cancelled"}',
    ):
        assert _status_string_uses(ast.parse(source)) == [1], source
    for source in ("job.status is JobStatus.COMPLETED", 'reason == "failed to load"', 'x = "queued"'):
        assert _status_string_uses(ast.parse(source)) == [], source
