"""The catalog service over a real database (SQLite and PostgreSQL): hashes, lookup, filters, sort,
pages, refresh."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdcpp_rest.catalog.scan import default_type_roots
from sdcpp_rest.catalog.service import CatalogService, ModelQuery
from sdcpp_rest.catalog.store import ModelHashStore
from sdcpp_rest.errors import InvalidParameters, ModelNotFound
from sdcpp_rest.storage.database import create_database_engine, migrate
from tests.fixtures.synthetic_models import write_architecture, write_safetensors


def _service(tmp_path: Path, db_url: str, loaded: tuple[str, ...] = ()) -> CatalogService:
    engine = create_database_engine(db_url)
    models = tmp_path / "models"
    return CatalogService(models, default_type_roots(models), ModelHashStore(engine), lambda: loaded)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    write_architecture(root / "checkpoints" / "alpha.safetensors", "sd1_diffusers")
    write_architecture(root / "checkpoints" / "Beta.safetensors", "sdxl")
    write_safetensors(root / "checkpoints" / "big.safetensors", {"w": [1024, 1024]})
    write_architecture(root / "vae" / "alpha.safetensors", "vae")
    write_architecture(root / "lora" / "sub" / "style.safetensors", "lora_sd1")
    for index, path in enumerate(sorted(root.rglob("*.safetensors"))):
        os.utime(path, (1_700_000_000 + index * 1000, 1_700_000_000 + index * 1000))
    return root


@pytest.fixture
def service(tmp_path: Path, db_url: str, models: Path) -> Iterator[CatalogService]:
    catalog = _service(tmp_path, db_url)
    catalog.start()
    assert catalog.wait_for_hashes(30)
    yield catalog
    catalog.stop()


def _names(catalog: CatalogService, **query: object) -> list[str]:
    return [f"{v.model.type}:{v.model.name}" for v in catalog.list_models(ModelQuery(**query)).items]  # type: ignore[arg-type]


def test_hashes_are_computed_in_background_and_cached_across_restarts(
    tmp_path: Path, db_url: str, models: Path
) -> None:
    first = _service(tmp_path, db_url)
    first.start()
    assert first.wait_for_hashes(30)
    assert first.hashes_computed == 5
    view = first.get("alpha")
    expected = hashlib.sha256((models / "checkpoints" / "alpha.safetensors").read_bytes()).hexdigest()
    assert view.hash is not None and view.hash.sha256 == expected and view.id == expected
    first.stop()
    second = _service(tmp_path, db_url)  # same database: nothing to hash again
    second.start()
    assert second.wait_for_hashes(30)
    assert second.hashes_computed == 0
    assert second.get(expected[:10]).model.name == "alpha.safetensors"
    # A changed file is hashed again, and only that one.
    write_architecture(models / "checkpoints" / "alpha.safetensors", "sd2")
    second.refresh()
    assert second.wait_for_hashes(30)
    assert second.hashes_computed == 1
    assert second.get("alpha").model.architecture == "SD2.x"
    second.stop()


def test_model_id_by_hash_short_hash_name_stem_and_path(service: CatalogService) -> None:
    view = service.get("Beta.safetensors")
    assert view.hash is not None
    assert service.get(view.hash.sha256).model.name == "Beta.safetensors"
    assert service.get(view.hash.sha256[:10].upper()).model.name == "Beta.safetensors"
    assert service.get("Beta").model.name == "Beta.safetensors"
    assert service.get("lora/sub/style.safetensors").model.type == "lora"
    assert service.get("sub/style").model.type == "lora"
    # A name in two type folders: the checkpoint wins, the kind narrows.
    assert service.get("alpha.safetensors").model.type == "checkpoint"
    assert service.get("vae/alpha.safetensors").model.type == "vae"
    with pytest.raises(ModelNotFound):
        service.get("nope")
    with pytest.raises(ModelNotFound):
        service.get("style", kind="checkpoint")
    for escape in ("../secret.safetensors", "/etc/passwd", "checkpoints/../../x", "a\\b"):
        with pytest.raises(InvalidParameters):
            service.get(escape)


def test_filters(service: CatalogService) -> None:
    assert _names(service, type="vae") == ["vae:alpha.safetensors"]
    assert _names(service, search="ALPHA") == ["checkpoint:alpha.safetensors", "vae:alpha.safetensors"]
    assert _names(service, search="sdxl") == ["checkpoint:Beta.safetensors"]  # the architecture counts
    assert _names(service, min_size=1_000_000) == ["checkpoint:big.safetensors"]
    assert "checkpoint:big.safetensors" not in _names(service, max_size=1_000_000)
    assert _names(service, size_category="small") == []
    assert len(_names(service, size_category="tiny")) == 5
    assert _names(service, architecture="sd1.x", type="checkpoint") == ["checkpoint:alpha.safetensors"]
    mtimes = sorted(v.model.stat.mtime_ns / 1e9 for v in service.list_models(ModelQuery(limit=0)).items)
    assert len(_names(service, modified_after=mtimes[2])) == 3
    assert len(_names(service, modified_before=mtimes[1])) == 2
    assert _names(service, loaded=True) == []
    for bad in ({"type": "unicorn"}, {"sort_by": "color"}, {"sort_order": "up"}, {"size_category": "xl"}):
        with pytest.raises(InvalidParameters):
            service.list_models(ModelQuery(**bad))  # type: ignore[arg-type]


def test_loaded_filter_and_sort(tmp_path: Path, db_url: str, models: Path) -> None:
    big = str((models / "checkpoints" / "big.safetensors").resolve())
    catalog = _service(tmp_path, db_url, loaded=(big,))
    catalog.start()
    assert _names(catalog, loaded=True) == ["checkpoint:big.safetensors"]
    assert _names(catalog, sort_by="loaded", sort_order="desc")[0] == "checkpoint:big.safetensors"
    assert catalog.list_models(ModelQuery(loaded=True)).items[0].loaded is True
    catalog.stop()


def test_sorts_are_stable_and_reversible(service: CatalogService) -> None:
    assert _names(service)[:2] == ["checkpoint:alpha.safetensors", "vae:alpha.safetensors"]
    assert _names(service, sort_by="size", sort_order="desc")[0] == "checkpoint:big.safetensors"
    by_date = _names(service, sort_by="date")
    assert by_date == list(reversed(_names(service, sort_by="date", sort_order="desc")))
    assert [n.split(":")[0] for n in _names(service, sort_by="type")] == [
        "checkpoint",
        "checkpoint",
        "checkpoint",
        "vae",
        "lora",
    ]


def test_pagination_edges(service: CatalogService) -> None:
    page = service.list_models(ModelQuery(limit=2, page=1))
    assert (page.total, page.pages, len(page.items)) == (5, 3, 2)
    last = service.list_models(ModelQuery(limit=2, page=3))
    assert len(last.items) == 1
    past = service.list_models(ModelQuery(limit=2, page=9))
    assert past.items == [] and past.total == 5
    everything = service.list_models(ModelQuery(limit=0, page=1))
    assert (len(everything.items), everything.pages) == (5, 1)
    empty = service.list_models(ModelQuery(type="taesd"))
    assert (empty.total, empty.pages, empty.items) == (0, 1, [])


def test_refresh_notices_added_changed_and_removed_files(service: CatalogService, models: Path) -> None:
    unchanged = service.refresh()
    assert (unchanged.found, unchanged.updated) == (5, 0)
    write_architecture(models / "taesd" / "new.safetensors", "vae")
    write_architecture(models / "checkpoints" / "Beta.safetensors", "sd3")
    (models / "lora" / "sub" / "style.safetensors").unlink()
    result = service.refresh()
    assert (result.found, result.added, result.changed, result.removed) == (5, 1, 1, 1)
    assert result.updated == 3
    assert service.get("Beta").model.architecture == "SD3"
    with pytest.raises(ModelNotFound):
        service.get("style")


def _nice_of_thread(native_id: int) -> int:
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16])  # field 19 of stat(5): nice


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="per-thread nice values are Linux's")
def test_hashing_thread_runs_at_the_lowest_priority_and_the_rest_of_the_process_does_not(
    service: CatalogService,
) -> None:
    hasher = next(thread for thread in threading.enumerate() if thread.name == "catalog-hasher")
    assert hasher.native_id is not None
    before = os.getpriority(os.PRIO_PROCESS, 0)
    assert _nice_of_thread(hasher.native_id) == 19
    assert _nice_of_thread(threading.get_native_id()) == before != 19


def test_a_hash_not_stored_for_a_locked_database_is_retried_not_marked_failed(tmp_path: Path) -> None:
    """Issue 27: another process holding the SQLite file locked past the busy timeout (10 s, waited
    out for real here) made the hash's write fail, and the model showed hash_failed until removed."""
    database = tmp_path / "catalog.db"
    engine = create_database_engine(f"sqlite:///{database}")
    migrate(engine)
    models = tmp_path / "models"
    write_architecture(models / "checkpoints" / "alpha.safetensors", "sd1_diffusers")
    catalog = CatalogService(models, default_type_roots(models), ModelHashStore(engine))
    lock = sqlite3.connect(database, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        catalog.start()
        assert catalog.wait_for_hashes(60)
        lock.execute("COMMIT")
        [view] = catalog.list_models(ModelQuery()).items
        assert view.hash is None and not view.hash_failed  # was hash_failed, for good
        catalog.refresh()
        assert catalog.wait_for_hashes(30)
        [view] = catalog.list_models(ModelQuery()).items
        assert view.hash is not None and not view.hash_failed
    finally:
        lock.close()
        catalog.stop()
        engine.dispose()
