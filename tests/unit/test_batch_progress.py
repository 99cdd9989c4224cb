"""Job-wide progress from the engine's per-pass callbacks. The sequences are the ones
stable-diffusion.cpp 0.4.7 reports (measured with the random-weight SD1.5 model): (step, steps)."""

from __future__ import annotations

from sdcpp_rest.engine.worker import BatchProgress


def _replay(progress: BatchProgress, calls: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(overall step, total) after each non-zero step, as the worker sends them."""
    sent = []
    for step, steps in calls:
        if step == 0:
            progress.start_pass(steps)
        else:
            sent.append((progress.overall(step), progress.total))
    return sent


def test_img2img_runs_fewer_steps_than_asked_and_still_ends_at_the_total() -> None:
    # steps=4, strength=0.5: the engine runs 3.
    sent = _replay(BatchProgress(1, 4, 0), [(0, 3), (1, 3), (2, 3), (3, 3)])
    assert sent == [(1, 3), (2, 3), (3, 3)]


def test_batch_then_hires_passes_count_up_to_one_total() -> None:
    # batch 2, steps 2, hires_steps 3 at strength 0.5: both first passes, then both hires passes of 4.
    calls = [(0, 2), (1, 2), (2, 2), (0, 2), (1, 2), (2, 2)] + [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)] * 2
    progress = BatchProgress(2, 2, 3)
    assert progress.total == 10  # planned before the engine says otherwise
    sent = _replay(progress, calls)
    overall = [step for step, _ in sent]
    assert overall == sorted(overall) and len(set(overall)) == len(overall)  # strictly rising
    assert sent[-1] == (12, 12) and sent[3] == (4, 10)  # the hires count corrects the total when it starts
    assert all(step <= total for step, total in sent)


def test_plain_batch_counts_images_one_after_another() -> None:
    sent = _replay(BatchProgress(3, 2, 0), [(0, 2), (1, 2), (2, 2)] * 3)
    assert sent == [(1, 6), (2, 6), (3, 6), (4, 6), (5, 6), (6, 6)]
