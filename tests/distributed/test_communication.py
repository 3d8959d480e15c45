"""What crosses ranks, and when: micro-steps of gradient accumulation do not
communicate; a step communicates once per bucket (plus a presence count of the
gradients); every rank ends bitwise equal."""

from __future__ import annotations

import json

import pytest

from .launch import mpiexec, run

pytestmark = pytest.mark.slow
ACCUM = 3


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    mpiexec()
    out = tmp_path_factory.mktemp("events")
    found = {}
    for mode in ("plain", "zero"):
        run(2, "events", out, mode, mode)
        found[mode] = json.loads((out / f"{mode}.json").read_text())
    return found


def batches(log):
    """[(index in epoch, epoch length, collectives until the next forward pass)]."""
    out = []
    for entry in log:
        if entry[0] == "forward":
            out.append([entry[1], entry[2], []])
        elif out:
            out[-1][2].append(entry[1])
    return out


@pytest.mark.parametrize("mode", ["plain", "zero"])
def test_micro_steps_do_not_communicate(events, mode):
    seen = batches(events[mode]["events"])
    assert len(seen) == 2 * seen[0][1]                      # two epochs of batches
    stepping = 0
    for index, length, calls in seen:
        steps = (index + 1) % ACCUM == 0 or index == length - 1
        if not steps:
            assert calls == [], (index, calls)
            continue
        stepping += 1
        gradient_calls = [c for c in calls if c in ("Allreduce", "Reduce_scatter",
                                                     "Reduce_scatter_block", "Allgather",
                                                     "Allgatherv")]
        assert gradient_calls, (index, calls)
    assert stepping == 2 * (-(-seen[0][1] // ACCUM))


def test_plain_steps_reduce_each_bucket_once(events):
    from .job import model
    from odyssey_training.distributed.buckets import FlatLayout

    net = model()
    layout = FlatLayout([p.data for p in net.parameters()], 120, 2)
    for index, length, calls in batches(events["plain"]["events"]):
        if (index + 1) % ACCUM == 0 and index != length - 1:
            # the gradient presence count, then one Allreduce per bucket
            assert calls.count("Allreduce") == 1 + len(layout.buckets)
            assert set(calls) == {"Allreduce"}


@pytest.mark.parametrize("mode", ["plain", "zero"])
def test_every_rank_ends_bitwise_equal(events, mode):
    assert events[mode]["bitwise_equal_on_all_ranks"]
