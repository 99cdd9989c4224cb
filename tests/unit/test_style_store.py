"""Styles through StyleService on a real database (SQLite and PostgreSQL): who sees, changes and
applies which styles, names unique per owner (the database's decision), own styles shadowing shared."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from sdcpp_rest.auth.permissions import LOCAL_ADMIN, Principal, Role
from sdcpp_rest.errors import ApiError, ErrorCode
from sdcpp_rest.styles.service import StyleService
from sdcpp_rest.styles.store import StyleStore

ADMIN = Principal(user_id="admin-id", username="admin", role=Role.ADMIN, method="jwt")
BOB = Principal(user_id="bob-id", username="bob", role=Role.USER, method="jwt")
CAROL = Principal(user_id="carol-id", username="carol", role=Role.USER, method="jwt")


@pytest.fixture
def styles(engine: Engine) -> StyleService:
    return StyleService(StyleStore(engine))


def test_users_see_shared_and_their_own_and_admins_see_all(styles: StyleService) -> None:
    styles.create(ADMIN, "house", "{prompt}, house style", "", shared=True)
    styles.create(BOB, "bobs", "bob's", "", shared=False)
    styles.create(CAROL, "carols", "carol's", "", shared=False)
    assert {(s.name, s.owner) for s in styles.visible(BOB)} == {("house", None), ("bobs", "bob-id")}
    assert {s.name for s in styles.visible(CAROL)} == {"house", "carols"}
    assert {s.name for s in styles.visible(ADMIN)} == {"house", "bobs", "carols"}
    with pytest.raises(ApiError) as unknown:
        styles.resolve(["carols"], BOB.user_id)
    assert (unknown.value.code, unknown.value.status_code) == (ErrorCode.INVALID_PARAMETERS, 400)
    assert unknown.value.field == "styles.0" and "carols" in unknown.value.message


def test_a_name_is_unique_per_owner_and_an_own_style_shadows_the_shared_one(styles: StyleService) -> None:
    styles.create(ADMIN, "mood", "shared mood", "", shared=True)
    styles.create(BOB, "mood", "bob's mood", "", shared=False)  # another owner: allowed
    with pytest.raises(ApiError) as taken:
        styles.create(BOB, "mood", "again", "", shared=False)
    assert taken.value.status_code == 409 and taken.value.field == "name"
    # The failed insert left the store usable and the rows as they were.
    assert styles.apply(["mood"], BOB.user_id, "a cat", "") == ("a cat, bob's mood", "")
    assert styles.apply(["mood"], CAROL.user_id, "a cat", "") == ("a cat, shared mood", "")
    assert styles.apply(["mood"], None, "a cat", "") == ("a cat, shared mood", "")


def test_only_admins_change_shared_styles(styles: StyleService) -> None:
    for change in (
        lambda: styles.create(BOB, "x", "p", "", shared=True),
        lambda: styles.replace(BOB, "x", "p", "", shared=True),
        lambda: styles.delete(BOB, "x", shared=True),
    ):
        with pytest.raises(ApiError) as refused:
            change()
        assert (refused.value.code, refused.value.status_code) == (ErrorCode.INSUFFICIENT_PERMISSIONS, 403)
    # Without authentication the local admin's styles are the shared ones.
    made = styles.create(LOCAL_ADMIN, "local", "p", "", shared=False)
    assert made.shared and styles.usable(BOB.user_id)["local"] == made


def test_replace_creates_or_changes_and_delete_names_what_is_missing(styles: StyleService) -> None:
    first = styles.replace(BOB, "tone", "warm", "cold", shared=False)
    second = styles.replace(BOB, "tone", "{prompt} in sepia", "", shared=False)
    assert second.id == first.id and (second.prompt, second.negative_prompt) == ("{prompt} in sepia", "")
    assert styles.delete(BOB, "tone", shared=False).id == first.id
    with pytest.raises(ApiError) as missing:
        styles.delete(BOB, "tone", shared=False)
    assert (missing.value.code, missing.value.status_code) == (ErrorCode.NOT_FOUND, 404)
    with pytest.raises(ApiError) as bad:
        styles.replace(BOB, "a/b", "x", "", shared=False)
    assert (bad.value.status_code, bad.value.field) == (400, "name")


def test_import_creates_updates_and_skips(styles: StyleService) -> None:
    styles.create(BOB, "old", "before", "", shared=False)
    data = b"name,prompt,negative_prompt\nold,after,neg\nnew,{prompt} new,\nbad/name,x,\n"
    report = styles.import_csv(BOB, data, shared=False, overwrite=True)
    skipped = [name for name, _ in report.skipped]
    assert (report.created, report.updated, skipped) == (["new"], ["old"], ["bad/name"])
    assert styles.usable(BOB.user_id)["old"].prompt == "after"
    again = styles.import_csv(BOB, data, shared=False, overwrite=False)
    assert (again.created, again.updated) == ([], [])
    assert [name for name, _ in again.skipped] == ["bad/name", "old", "new"]
    with pytest.raises(ApiError) as not_csv:
        styles.import_csv(BOB, b"\x00\xff", shared=False, overwrite=True)
    assert (not_csv.value.status_code, not_csv.value.field) == (400, "file")
