"""The longest prompt the real engine encodes without crashing, per prompt shape and model family, by
bisection on the prompt's size in UTF-8 bytes (issue 27, finding 6).

    .venv/bin/python -m bench.bench_prompt_limit [--families sd15 flux] [--shapes e-acute emoji ...]
                                                 [--low 4096] [--high 98304] [--resolution 512]

stable-diffusion.cpp parses every prompt with std::regex (libstdc++), whose matcher recurses once per
byte of a repeated group: a long enough run of text overflows the stack and the process dies with
SIGSEGV. Each try is `tests/engine/prompt_probe.py` in a child process (64x64, one step), so a crash
ends the try, not this script. A size that works and a larger one that crashes bracket the limit; the
table gives both, in bytes and in characters. Runs one engine at a time; a try takes 3 to 20 s here.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRY_TIMEOUT_S = 900

# What each shape stresses in the engine's parsers (src/util.cpp parse_prompt_attention; the CLIP
# tokenizer's whitespace_clean and token_split; the T5 tokenizer's normalize).
SHAPES: dict[str, str] = {
    "e-acute": "é",  # 2 bytes a character: one run of the attention parser's `[^\\()\[\]:B]+`
    "emoji": "😀",  # 4 bytes a character: the same run
    "ascii-words": "a photo of a cat, ",  # an ordinary long prompt: the same run, 1 byte a character
    "ascii-letter": "a",  # one word: the attention run and CLIP's `[[:alpha:]]+`
    "spaces-e": "é ",  # whitespace inside the run (CLIP's whitespace_clean, T5's ` {2,}`)
    # Escaped brackets cut the attention parser's runs into 2-byte pieces, which it merges again; the
    # CLIP tokenizer then sees one run of `[^[:space:][:alpha:][:digit:]]+`.
    "escaped-brackets": "é\\(",
    "brackets": "(a) ",  # many short runs and weight changes: the work is in the number of pieces
}


@dataclass
class Bracket:
    family: str
    shape: str
    works: int  # largest size in bytes that generated
    crashes: int | None  # smallest size in bytes that crashed (None: none up to --high)
    crash_status: int | None
    seconds_at_works: float


def prompt_of(shape: str, size_bytes: int) -> str:
    unit = SHAPES[shape]
    repeats = max(1, size_bytes // len(unit.encode()))
    return unit * repeats


def try_prompt(family: str, prompt: str, work: Path) -> tuple[int, float]:
    """The probe's exit status (negative: the signal that ended it) and its seconds."""
    prompt_file = work / "prompt.txt"
    prompt_file.write_text(prompt, encoding="utf-8")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tests.engine.prompt_probe", family, str(prompt_file)],
        capture_output=True,
        text=True,
        timeout=TRY_TIMEOUT_S,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if done.returncode > 0:  # a Python error is not a verdict on the prompt: show it and stop
        raise SystemExit(f"probe failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.returncode, time.monotonic() - started


def bisect(family: str, shape: str, low: int, high: int, resolution: int, work: Path) -> Bracket:
    def size_of(n: int) -> int:
        return len(prompt_of(shape, n).encode())

    status, seconds = try_prompt(family, prompt_of(shape, low), work)
    if status != 0:
        raise SystemExit(f"{family}/{shape}: even {size_of(low)} bytes crash ({status}); lower --low")
    works, crashes, crash_status, works_seconds = size_of(low), None, None, seconds
    status, seconds = try_prompt(family, prompt_of(shape, high), work)
    log(family, shape, size_of(high), status, seconds)
    if status == 0:
        return Bracket(family, shape, size_of(high), None, None, seconds)
    crashes, crash_status = size_of(high), status
    while crashes - works > resolution:
        middle = (works + crashes) // 2
        status, seconds = try_prompt(family, prompt_of(shape, middle), work)
        log(family, shape, size_of(middle), status, seconds)
        if status == 0:
            works, works_seconds = size_of(middle), seconds
        else:
            crashes, crash_status = size_of(middle), status
    return Bracket(family, shape, works, crashes, crash_status, works_seconds)


def log(family: str, shape: str, size: int, status: int, seconds: float) -> None:
    verdict = "ok" if status == 0 else f"crash ({status})"
    print(f"  {family:5} {shape:16} {size:7} bytes: {verdict:13} {seconds:6.1f} s", flush=True)  # noqa: T201


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=["sd15"])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--low", type=int, default=4096, help="bytes that must work")
    parser.add_argument("--high", type=int, default=98304, help="bytes that should crash")
    parser.add_argument("--resolution", type=int, default=512, help="stop when the bracket is this narrow")
    args = parser.parse_args()
    stack = resource.getrlimit(resource.RLIMIT_STACK)[0]
    print(f"stack limit (ulimit -s) of the engine process: {stack // 1024 if stack > 0 else stack} KiB")  # noqa: T201
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            for shape in args.shapes:
                results.append(bisect(family, shape, args.low, args.high, args.resolution, Path(tmp)))
    print("\n| family | shape | works (bytes / chars) | crashes (bytes) | signal | s at works |")  # noqa: T201
    print("| --- | --- | --- | --- | --- | --- |")  # noqa: T201
    for r in results:
        chars = len(prompt_of(r.shape, r.works))
        crash = "none" if r.crashes is None else str(r.crashes)
        signal = "" if r.crash_status is None else str(-r.crash_status)
        row = f"| {r.family} | {r.shape} | {r.works} / {chars} | {crash} | {signal}"
        print(f"{row} | {r.seconds_at_works:.1f} |")  # noqa: T201


if __name__ == "__main__":
    main()
