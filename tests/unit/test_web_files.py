"""The browser UI's static files (src/sdcpp_rest/web/): shipped in the package, every module import
resolves, no markup built from strings, files kept small. Cheap guards that need no browser."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "sdcpp_rest"
WEB = PACKAGE / "web"
PYPROJECT = PACKAGE.parents[1] / "pyproject.toml"
MAX_LINES = 500
IMPORT = re.compile(r"""^\s*(?:import|export)\s[^;]*?from\s+["'](\.[^"']+)["']""", re.M)
# Ways of turning text into markup: API text (prompts, names, messages) must never go through them.
MARKUP_SINKS = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function")


def _web_files() -> list[Path]:
    return sorted(p for p in WEB.rglob("*") if p.is_file())


def test_every_web_file_is_package_data() -> None:
    patterns = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]["sdcpp_rest"]
    missing = [
        str(path.relative_to(PACKAGE))
        for path in _web_files()
        if not any(fnmatch.fnmatch(path.relative_to(PACKAGE).as_posix(), pattern) for pattern in patterns)
    ]
    assert missing == [], "add these to [tool.setuptools.package-data] in pyproject.toml"


def test_the_page_loads_only_files_that_exist_and_nothing_from_elsewhere() -> None:
    index = (WEB / "index.html").read_text()
    references = re.findall(r'(?:src|href)="(ui/[^"]+)"', index)
    assert {"ui/app.css", "ui/js/main.js"} <= set(references)
    assert [ref for ref in references if not (WEB / ref.removeprefix("ui/")).is_file()] == []
    assert not re.search(r'(?:src|href)="(?:https?:)?//', index)


def test_every_module_import_resolves() -> None:
    broken = []
    for path in WEB.rglob("*.js"):
        for target in IMPORT.findall(path.read_text()):
            if not (path.parent / target).resolve().is_file():
                broken.append(f"{path.relative_to(WEB)} -> {target}")
    assert broken == []


def test_no_markup_from_strings_and_small_files() -> None:
    offenders = [
        f"{path.relative_to(WEB)}: {sink}"
        for path in WEB.rglob("*.js")
        for sink in MARKUP_SINKS
        if sink in path.read_text()
    ]
    assert offenders == []
    too_long = [p.name for p in _web_files() if len(p.read_text().splitlines()) > MAX_LINES]
    assert too_long == []
