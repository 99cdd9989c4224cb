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
