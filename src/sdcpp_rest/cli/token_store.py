"""Bearer tokens that `sdcpp-rest login` keeps for the client commands, one per server URL.

The file is `tokens.json` in the user's config folder (the XDG rule of config_files), written mode
0600 in a folder of mode 0700 and replaced atomically, so another local user never reads a token and a
crash never leaves half a file. A token is only ever sent to the server URL it was issued by.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from sdcpp_rest.config_files import user_config_folder

TOKENS_FILE_NAME = "tokens.json"


def tokens_file() -> Path:
    return user_config_folder() / TOKENS_FILE_NAME


def _normal(server_url: str) -> str:
    return server_url.rstrip("/")


def _read_all(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # an unreadable or damaged file counts as no tokens: `login` writes a good one
    if not isinstance(data, dict):
        return {}
    return {str(url): str(token) for url, token in data.items() if isinstance(token, str)}


def _write_all(path: Path, tokens: dict[str, str]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tokens-", suffix=".json")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(tokens, out, indent=2, sort_keys=True)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def stored_token(server_url: str) -> str | None:
    return _read_all(tokens_file()).get(_normal(server_url))


def store_token(server_url: str, token: str) -> Path:
    path = tokens_file()
    tokens = _read_all(path)
    tokens[_normal(server_url)] = token
    _write_all(path, tokens)
    return path


def forget_token(server_url: str) -> bool:
    """Remove the server's token; False when none was stored."""
    path = tokens_file()
    tokens = _read_all(path)
    if tokens.pop(_normal(server_url), None) is None:
        return False
    _write_all(path, tokens)
    return True
