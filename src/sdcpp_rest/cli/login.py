"""`sdcpp-rest login` and `logout`: a bearer token for the client commands on a server with
auth_method jwt, kept per server URL by token_store (mode 0600) and sent by generate, queue, cancel
and models when no API key or token is given."""

from __future__ import annotations

import argparse
import getpass
import sys
import time

import httpx

from sdcpp_rest.cli.client import (
    EXIT_REQUEST_ERROR,
    LOGIN_PATH,
    ClientError,
    _json,
    _request,
    connection_options,
    target_from,
)
from sdcpp_rest.cli.display import write_err, write_out
from sdcpp_rest.cli.token_store import forget_token, store_token, stored_token

LOGIN_COMMANDS = ("login", "logout")


def add_login_parsers(subparsers: argparse._SubParsersAction) -> None:
    connection = connection_options()
    login = subparsers.add_parser(
        "login", parents=[connection], help="log in to a server and keep the token for client commands"
    )
    login.add_argument("--username", help="default: asked for")
    login.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    subparsers.add_parser(
        "logout", parents=[connection], help="revoke and forget the token that login kept for a server"
    )


def run_login_command(args: argparse.Namespace) -> int:
    try:
        return _login(args) if args.command == "login" else _logout(args)
    except ClientError as exc:
        write_err(f"sdcpp-rest: error: {exc}")
        return EXIT_REQUEST_ERROR


def _login(args: argparse.Namespace) -> int:
    target = target_from(args)
    username = args.username or input("Username: ")
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    with httpx.Client(base_url=target.url, timeout=30.0, transport=_transport(target.socket)) as client:
        reply = _json(_request(client, "POST", LOGIN_PATH, json={"username": username, "password": password}))
    token = reply.get("token")
    if not isinstance(token, str) or not token:
        raise ClientError("the server's login reply carries no token")
    path = store_token(target.url, token)
    expires_at = reply.get("expires_at")
    until = (
        f", valid until {time.strftime('%Y-%m-%d %H:%M', time.localtime(expires_at))}"
        if isinstance(expires_at, int) and expires_at > 0
        else ""
    )
    write_out(f"logged in to {target.url} as {username}{until}; the token is kept in {path}")
    return 0


def _logout(args: argparse.Namespace) -> int:
    target = target_from(args)
    token = stored_token(target.url)
    if token is None:
        write_out(f"not logged in to {target.url}: nothing to do")
        return 0
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=target.url, timeout=30.0, transport=_transport(target.socket)) as client:
            _request(client, "POST", "/api/auth/logout", headers=headers)
        revoked = "revoked and forgotten"
    except ClientError as exc:
        # An expired or already revoked token, or a server that is away: forget it all the same.
        revoked = f"forgotten (the server did not revoke it: {exc})"
    forget_token(target.url)
    write_out(f"logged out of {target.url}: the token was {revoked}")
    return 0


def _transport(socket: str | None) -> httpx.HTTPTransport | None:
    return httpx.HTTPTransport(uds=socket) if socket else None
