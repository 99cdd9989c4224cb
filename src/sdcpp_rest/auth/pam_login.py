"""Password checks against the system's PAM stack (python-pam), and group-to-role mapping."""

from __future__ import annotations

import grp
import pwd

import pam


def pam_authenticate(username: str, password: str, service: str) -> bool:
    return bool(pam.pam().authenticate(username, password, service=service))


def unix_groups(username: str) -> set[str]:
    """The user's primary and supplementary groups (empty if the user is unknown)."""
    try:
        primary = grp.getgrgid(pwd.getpwnam(username).pw_gid).gr_name
    except KeyError:
        return set()
    return {primary} | {group.gr_name for group in grp.getgrall() if username in group.gr_mem}
