"""Command line administration of users and API keys (works on the database directly, server up or not)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from sdcpp_rest.auth.permissions import Role
from sdcpp_rest.auth.service import AuthService
from sdcpp_rest.auth.store import UserExists, UserRecord
from sdcpp_rest.cli.opened_database import database_notice, has_schema
from sdcpp_rest.config import ConfigError, load_settings
from sdcpp_rest.errors import ApiError

ADMIN_COMMANDS = ("users", "keys")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML config file (also STABLE_DIFFUSION_CONFIG)")
    parser.add_argument("--data-dir", type=Path, help="data folder holding the database")


def add_admin_parsers(subparsers: argparse._SubParsersAction) -> None:
    users = subparsers.add_parser("users", help="manage users")
    users_sub = users.add_subparsers(dest="action", required=True)
    add = users_sub.add_parser("add", help="create a user")
    add.add_argument("username")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.USER.value)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    listing = users_sub.add_parser("list", help="list users")
    listing.add_argument("--json", action="store_true")
    passwd = users_sub.add_parser("passwd", help="set a password (revokes the user's tokens and API keys)")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.add_argument(
        "--keep-keys", action="store_true", help="keep the user's API keys (a routine change, no compromise)"
    )
    for name, text in (("disable", "disable a user (revokes tokens)"), ("enable", "enable a user again")):
        sub = users_sub.add_parser(name, help=text)
        sub.add_argument("username")
    role = users_sub.add_parser("role", help="change a user's role (revokes tokens)")
    role.add_argument("username")
    role.add_argument("role", choices=[r.value for r in Role])
    for sub in (add, listing, passwd, role, *users_sub.choices.values()):
        if not any(a.dest == "data_dir" for a in sub._actions):
            _common(sub)

    keys = subparsers.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    create = keys_sub.add_parser("create", help="create an API key for a user (printed once)")
    create.add_argument("username")
    create.add_argument("--name", required=True)
    create.add_argument("--expires-in-days", type=int)
    klist = keys_sub.add_parser("list", help="list API keys")
    klist.add_argument("--user")
    revoke = keys_sub.add_parser("revoke", help="revoke an API key by id")
    revoke.add_argument("key_id")
    revoke_all = keys_sub.add_parser("revoke-all", help="revoke every API key of a user")
    revoke_all.add_argument("username")
    for sub in (create, klist, revoke, revoke_all):
        _common(sub)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat: "):
        raise ApiError("the passwords differ")
    return first


def _user(auth: AuthService, username: str) -> UserRecord:
    user = auth.users.find_user(username)
    if user is None:
        raise ApiError(f"no user named {username}")
    return user


def run_admin_command(args: argparse.Namespace) -> int:
    from sdcpp_rest.container import build_auth
    from sdcpp_rest.storage.database import create_database_engine, migrate

    try:
        settings = load_settings(args.config, {"data_dir": args.data_dir})
    except ConfigError as exc:
        sys.stderr.write(f"sdcpp-rest: {exc}\n")
        return 2
    assert settings.database_url is not None
    engine = create_database_engine(settings.database_url)
    existed_before = has_schema(engine)
    migrate(engine)
    sys.stderr.write(database_notice(settings, args.config, existed_before))
    auth = build_auth(settings, engine)
    try:
        return _dispatch(auth, args)
    except (ApiError, UserExists) as exc:
        message = exc.message if isinstance(exc, ApiError) else f"user {exc} already exists"
        sys.stderr.write(f"sdcpp-rest: {message}\n")
        return 1


def _dispatch(auth: AuthService, args: argparse.Namespace) -> int:
    out = sys.stdout
    if args.command == "users":
        if args.action == "add":
            user = auth.add_user(args.username, _read_password(args.password_stdin), Role(args.role))
            out.write(f"created {user.username} ({user.role.value}) id {user.id}\n")
        elif args.action == "list":
            users = [u.public() for u in auth.users.list_users()]
            if args.json:
                out.write(json.dumps(users, indent=2) + "\n")
            for u in [] if args.json else users:
                out.write(
                    f"{u['username']:<24} {u['role']:<6} {u['source']:<6} "
                    f"{'enabled' if u['enabled'] else 'disabled'}\n"
                )
        elif args.action == "passwd":
            password = _read_password(args.password_stdin)
            revoked = auth.set_password(_user(auth, args.username), password, revoke_keys=not args.keep_keys)
            kept = "their API keys are kept" if args.keep_keys else f"{revoked} API key(s) revoked"
            out.write(f"password of {args.username} changed; their tokens are revoked, {kept}\n")
        elif args.action in ("disable", "enable"):
            auth.users.update_user(
                _user(auth, args.username).id, revoke_tokens=True, enabled=args.action == "enable"
            )
            out.write(f"{args.username} {args.action}d\n")
        elif args.action == "role":
            auth.users.update_user(_user(auth, args.username).id, revoke_tokens=True, role=args.role)
            out.write(f"{args.username} is now {args.role}\n")
        return 0
    if args.action == "create":
        secret, record = auth.create_key(_user(auth, args.username).id, args.name, args.expires_in_days)
        out.write(f"{secret}\n")
        sys.stderr.write(f"API key {record.id} created; the key above is shown only once\n")
    elif args.action == "list":
        owner = _user(auth, args.user).id if args.user else None
        for key in auth.users.list_keys(owner):
            out.write(json.dumps(key.public()) + "\n")
    elif args.action == "revoke":
        if not auth.users.revoke_key(args.key_id):
            raise ApiError(f"no active key {args.key_id}")
        out.write(f"revoked {args.key_id}\n")
    elif args.action == "revoke-all":
        revoked = auth.users.revoke_keys_of(_user(auth, args.username).id)
        out.write(f"revoked {revoked} API key(s) of {args.username}\n")
    return 0
