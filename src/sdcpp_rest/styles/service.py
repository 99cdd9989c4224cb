"""StyleService: who sees, changes and applies which styles.

Shared styles (an admin's, `shared: true`) are everyone's; a user's own are theirs. A user sees the
shared ones and their own, an admin every style; a request applies the caller's own style of a name,
else the shared one (an own style shadows a shared one of its name). Without authentication the one
caller (the local admin, who has no user id) owns nothing: its styles are the shared ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sdcpp_rest.auth.permissions import Principal, Role
from sdcpp_rest.errors import ApiError, ErrorCode, InvalidParameters
from sdcpp_rest.styles.csv_import import StylesCsvError, parse_styles_csv
from sdcpp_rest.styles.merge import apply_styles
from sdcpp_rest.styles.records import Style, StyleError, checked_style_text
from sdcpp_rest.styles.store import StyleExists, StyleStore

# Styles one request may name: each adds text, and the final prompt has the engine's limit anyway.
MAX_STYLES_PER_REQUEST = 20


@dataclass(frozen=True)
class ImportReport:
    created: list[str]
    updated: list[str]
    skipped: list[tuple[str, str]]  # name, reason


def _bad_style(exc: StyleError) -> InvalidParameters:
    return InvalidParameters(str(exc), field=str(exc).split(":", 1)[0])


class StyleService:
    def __init__(self, store: StyleStore) -> None:
        self._store = store

    @staticmethod
    def _target(principal: Principal, shared: bool) -> str | None:
        """The owner a change acts on: None for the shared styles (admins only), else the caller."""
        if shared or principal.user_id is None:
            if principal.role is not Role.ADMIN:
                raise ApiError(
                    "shared: only an admin may change shared styles (leave shared out for your own)",
                    field="shared",
                    code=ErrorCode.INSUFFICIENT_PERMISSIONS,
                    status_code=403,
                )
            return None
        return principal.user_id

    def visible(self, principal: Principal) -> list[Style]:
        """The styles the caller may see: every style for an admin, else the shared and their own."""
        if principal.role is Role.ADMIN:
            return self._store.list()
        return self._store.list([None, principal.user_id])

    def usable(self, owner: str | None) -> dict[str, Style]:
        """The styles a request of `owner` applies, by name: its own over the shared ones."""
        found: dict[str, Style] = {}
        for style in self._store.list([None] if owner is None else [None, owner]):
            if style.name not in found or not style.shared:
                found[style.name] = style
        return found

    def resolve(self, names: Sequence[str], owner: str | None) -> list[Style]:
        """The styles a request names, in its order; INVALID_PARAMETERS naming the first unknown one."""
        if not names:
            return []
        if len(names) > MAX_STYLES_PER_REQUEST:
            raise InvalidParameters(f"styles: at most {MAX_STYLES_PER_REQUEST} styles", field="styles")
        usable = self.usable(owner)
        styles = []
        for index, name in enumerate(names):
            style = usable.get(name)
            if style is None:
                raise InvalidParameters(
                    f"styles: no style named '{name[:80]}' (see GET /api/styles)", field=f"styles.{index}"
                )
            styles.append(style)
        return styles

    def apply(self, names: Sequence[str], owner: str | None, prompt: str, negative: str) -> tuple[str, str]:
        """The prompt and negative prompt with the named styles applied (see styles/merge.py)."""
        return apply_styles(prompt, negative, self.resolve(names, owner))

    def create(self, principal: Principal, name: str, prompt: str, negative: str, shared: bool) -> Style:
        owner = self._target(principal, shared)
        try:
            checked_style_text(name, prompt, negative)
            return self._store.add(owner, name, prompt, negative)
        except StyleError as exc:
            raise _bad_style(exc) from None
        except StyleExists:
            raise ApiError(
                f"name: a style named '{name}' exists; PUT /api/styles/{name} replaces it",
                field="name",
                code=ErrorCode.INVALID_PARAMETERS,
                status_code=409,
            ) from None

    def replace(self, principal: Principal, name: str, prompt: str, negative: str, shared: bool) -> Style:
        """Change a style's texts, or create it when there is none of that name (PUT)."""
        owner = self._target(principal, shared)
        try:
            checked_style_text(name, prompt, negative)
        except StyleError as exc:
            raise _bad_style(exc) from None
        updated = self._store.update(owner, name, prompt, negative)
        if updated is not None:
            return updated
        try:
            return self._store.add(owner, name, prompt, negative)
        except StyleExists:  # added by another request in between: this one's texts win
            again = self._store.update(owner, name, prompt, negative)
            if again is None:  # and deleted again meanwhile
                raise ApiError(
                    f"name: style '{name}' changed meanwhile; try again",
                    field="name",
                    code=ErrorCode.INVALID_PARAMETERS,
                    status_code=409,
                ) from None
            return again

    def delete(self, principal: Principal, name: str, shared: bool) -> Style:
        owner = self._target(principal, shared)
        deleted = self._store.delete(owner, name)
        if deleted is None:
            whose = "shared" if owner is None else "of yours"
            raise ApiError(
                f"no style named '{name[:80]}' {whose} (see GET /api/styles)",
                code=ErrorCode.NOT_FOUND,
                status_code=404,
            )
        return deleted

    def import_csv(self, principal: Principal, data: bytes, shared: bool, overwrite: bool) -> ImportReport:
        """The styles of an A1111 styles.csv, added (or, with overwrite, replacing those of the same
        name) as the caller's own or, with shared, as shared ones."""
        owner = self._target(principal, shared)
        try:
            parsed = parse_styles_csv(data)
        except StylesCsvError as exc:
            raise InvalidParameters(f"file: {exc}", field="file") from None
        report = ImportReport([], [], [(row.name, row.reason) for row in parsed.skipped])
        for row in parsed.styles:
            if self._store.get(owner, row.name) is not None:
                if not overwrite:
                    report.skipped.append(
                        (row.name, "a style of this name exists (overwrite=true replaces it)")
                    )
                    continue
                self._store.update(owner, row.name, row.prompt, row.negative_prompt)
                report.updated.append(row.name)
                continue
            try:
                self._store.add(owner, row.name, row.prompt, row.negative_prompt)
                report.created.append(row.name)
            except StyleExists:  # added by another request in between
                report.skipped.append((row.name, "a style of this name was added meanwhile"))
        return report
