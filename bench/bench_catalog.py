"""Catalog benchmark: one page of a listing over 10,000 model entries, and a refresh with no changes.

Run: .venv/bin/python -m bench.bench_catalog [--models 10000] [--repeat 20]
Writes small synthetic safetensors files (real headers, tiny tensors) into a temporary folder, scans
them with the real CatalogService over a real SQLite database, and prints the median timings. The
issue's target is under 100 ms for one page.
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sdcpp_rest.api.models import models_reply
from sdcpp_rest.catalog.scan import MODEL_TYPES, TYPE_FOLDERS, default_type_roots
from sdcpp_rest.catalog.service import CatalogService, ModelQuery
from sdcpp_rest.catalog.store import ModelHashStore
from sdcpp_rest.storage.database import create_database_engine, migrate

TARGET_PAGE_MS = 100.0


def _safetensors_bytes(index: int) -> bytes:
    header = {
        f"unet.down_blocks.0.attentions.0.transformer_blocks.{index % 7}.attn2.to_k.weight": {
            "dtype": "F16",
            "shape": [2, 768],
            "data_offsets": [0, 2 * 768 * 2],
        },
        "__metadata__": {"modelspec.title": f"model {index}"},
    }
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + bytes(2 * 768 * 2)


def write_models(models: Path, count: int) -> None:
    for index in range(count):
        kind = MODEL_TYPES[index % len(MODEL_TYPES)]
        folder = models / TYPE_FOLDERS[kind][0] / f"group{index % 20}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"model-{index:05d}.safetensors").write_bytes(_safetensors_bytes(index))


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = root / "models"
        started = time.perf_counter()
        write_models(models, args.models)
        print(f"wrote {args.models} synthetic model files in {time.perf_counter() - started:.1f} s")
        engine = create_database_engine(f"sqlite:///{root / 'bench.db'}")
        migrate(engine)
        catalog = CatalogService(models, default_type_roots(models), ModelHashStore(engine))
        started = time.perf_counter()
        catalog.start()
        print(f"first scan (headers of every file): {(time.perf_counter() - started) * 1000:.0f} ms")
        started = time.perf_counter()
        catalog.wait_for_hashes(600)
        print(f"background hashing of all files: {time.perf_counter() - started:.1f} s")

        def page(**query: object) -> Callable[[], object]:
            def run() -> object:
                result = catalog.list_models(ModelQuery(**query))  # type: ignore[arg-type]
                # What the route does with it: schemas and JSON, so the figure is the whole reply.
                return models_reply(result).model_dump_json()

            return run

        rows = [
            ("page 1, 50 per page, by name", page()),
            ("page 100, 50 per page, by size desc", page(page=100, sort_by="size", sort_order="desc")),
            ("search 'model 99', by date", page(search="model 99", sort_by="date")),
            ("type=lora, size_category=tiny", page(type="lora", size_category="tiny")),
        ]
        print(
            f"\nlisting over {catalog.count()} entries "
            f"(median of {args.repeat}; target < {TARGET_PAGE_MS:.0f} ms):"
        )
        for label, action in rows:
            ms = median_ms(action, args.repeat)
            print(f"  {label:<40} {ms:8.1f} ms  {'ok' if ms < TARGET_PAGE_MS else 'OVER TARGET'}")
        refresh_ms = median_ms(catalog.refresh, max(3, args.repeat // 4))
        print(
            f"\nrefresh with no changes: {refresh_ms:.0f} ms "
            f"(walk + stat of {catalog.count()} files, no header read)"
        )
        catalog.stop()


if __name__ == "__main__":
    main()
