"""The MPI side of ``python -m bench.distributed`` (run under ``mpiexec``; rank 0
prints one JSON line).

``allreduce ROUNDS BYTES...``  per buffer size, interleaved rounds of: a plain
    ``comm.Allreduce(IN_PLACE, buf)`` of one float32 buffer; ours
    (``BucketComm.allreduce``, 25 MB buckets) on the same bytes as one tensor (each
    bucket reduced in place on a view) and as 64 tensors (half large, half small:
    packed into the bucket and unpacked).  A sample is the slowest rank's time.
``steps MODEL ZERO WARMUP_EPOCHS EPOCHS``  train MODEL (``job``: the default
    ``odyssey-train`` job, its callbacks included, BLAS on one thread as the job runs
    it, so its threads are the kernels'; ``mlp20m-B``: a 1024-4096-4096-10 MLP, 21M
    parameters, global batch B, on random data) and report the time of every training step
    after the warm-up epochs (on rank 0, between batch ends inside an epoch), the
    epochs' wall times, and per rank the optimizer state held and the peak RSS.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from odyssey_training.callbacks import Callback
from odyssey_training.distributed import MPI
from odyssey_training.distributed.buckets import BucketComm, FlatLayout
from odyssey_training.distributed.transport import allgather_trees

COMM = MPI.COMM_WORLD
BUCKET = 25 * 2**20


def _slowest(seconds: float) -> float:
    out = np.array([seconds])
    COMM.Allreduce(MPI.IN_PLACE, out, MPI.MAX)
    return float(out[0])


def _tensors(n: int) -> list[np.ndarray]:
    """``n`` float32 elements as 64 tensors: 32 large and 32 of 64 elements (biases)."""
    big = max(1, (n - 32 * 64) // 32)
    return [np.ones(big, np.float32) for _ in range(32)] + \
        [np.ones(max(1, (n - 32 * big) // 32), np.float32) for _ in range(32)]


def _layout(arrays: list[np.ndarray], alone: int | None = None) -> BucketComm:
    from odyssey_training.distributed import buckets
    saved = buckets.ALONE_BYTES
    buckets.ALONE_BYTES = saved if alone is None else alone
    try:
        return BucketComm(COMM, FlatLayout(arrays, BUCKET, COMM.size))
    finally:
        buckets.ALONE_BYTES = saved


def allreduce(rounds: int, sizes: list[int]) -> dict:
    """Interleaved rounds; before each timed call (untimed) 32 MiB of unrelated memory
    is written, then the contender's own buffers (as a backward pass leaves fresh
    gradients)."""
    other = np.zeros(8 * 2**20, np.float32)
    results = {}
    for nbytes in sizes:
        n = nbytes // 4
        plain, single, many, packed = [np.ones(n, np.float32)], [np.ones(n, np.float32)], \
            _tensors(n), _tensors(n)
        runs = {"mpi4py Allreduce": (plain, lambda: COMM.Allreduce(MPI.IN_PLACE, plain[0],
                                                                    MPI.SUM)),
                "ours, 1 tensor": (single, _layout(single).allreduce),
                "ours, 64 tensors": (many, _layout(many).allreduce),
                "ours, 64 tensors, all packed": (packed, _layout(packed, BUCKET).allreduce)}
        times: dict[str, list[float]] = {name: [] for name in runs}
        order = list(runs)
        count = rounds if nbytes >= 2**20 else rounds * 5
        for r in range(count + 2):
            random.Random(r).shuffle(order)          # the same order on every rank
            for name in order:
                arrays, call = runs[name]
                other += 1.0
                for a in arrays:
                    a.fill(1.0)
                COMM.Barrier()
                start = time.perf_counter()
                call(arrays) if name != "mpi4py Allreduce" else call()
                took = _slowest(time.perf_counter() - start)
                if r >= 2:
                    times[name].append(took)
        base = times["mpi4py Allreduce"]
        results[str(nbytes)] = {name: {"median_s": float(np.median(ts)),
                                       "q1_s": float(np.percentile(ts, 25)),
                                       "q3_s": float(np.percentile(ts, 75)),
                                       "ratio_median": float(np.median(np.array(ts) /
                                                                       np.array(base))),
                                       "rounds": len(ts)}
                                for name, ts in times.items()}
    return results


class StepTimes(Callback):
    """Seconds between training-batch ends within an epoch, and per-epoch wall time."""

    def __init__(self, warmup_epochs: int) -> None:
        self.warmup, self.steps, self.epochs = warmup_epochs, [], []

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.warmup:
            self.loop.timings.reset()       # the phases of the measured epochs only
        self.last = self.epoch_start = time.perf_counter()
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if batch > 0 and self.epoch >= self.warmup:
            self.steps.append(now - self.last)
        self.last = now

    def on_epoch_end(self, epoch, logs=None):
        if epoch >= self.warmup:
            self.epochs.append(time.perf_counter() - self.epoch_start)

    def on_train_end(self, logs=None):
        opt = self.loop.optimizer
        holder = getattr(opt, "shard_optimizer", None) or opt
        self.state_bytes = int(sum(v.nbytes for s in holder.state.values()
                                   for k, v in s.items() if k != "step"))
        # peak while training (ZeRO gathers the full state on rank 0 after this)
        self.peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        t = self.loop.timings
        per = max(1, t.batches)
        self.phases = {"compute_s": (t.seconds["forward"] + t.seconds["loss"]
                                     + t.seconds["backward"]) / per,
                       "optimizer_s": t.seconds["optimizer"] / per,    # step + communication
                       "other_s": (t.total - t.seconds["forward"] - t.seconds["loss"]
                                   - t.seconds["backward"] - t.seconds["optimizer"]) / per}


def _job(timer: StepTimes, epochs: int, zero: bool):
    from odyssey_training.job.config import resolve
    from odyssey_training.job.models import model_options
    from odyssey_training.job.run import prepare

    config = resolve([("bench", {"epochs": epochs})], model_options)
    run_dir = Path(tempfile.mkdtemp(prefix="odyssey-bench-job-"))
    if COMM.size > 1:
        from odyssey_training.distributed.transport import bcast_tree
        run_dir = Path(bcast_tree(COMM, str(run_dir)))
    job = prepare(config, run_dir, progress=False, callbacks=[timer],
                  comm=COMM if COMM.size > 1 or zero else None)
    return job.loop, job.train_loader, job.val_loader


def _mlp20m(timer: StepTimes, zero: bool, batch: int):
    from odyssey_training.data import ArrayLoader
    from odyssey_training.job.mlp import MLP
    from odyssey_training.loops import BasicTrainingLoop
    from odyssey_training.losses import CrossEntropyLoss
    from odyssey_training.metrics import Accuracy
    from odyssey_training.optimizers import AdamW

    steps = 8
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch * steps, 1024)).astype(np.float32)
    y = rng.integers(0, 10, batch * steps)
    model = MLP([1024, 4096, 4096, 10], seed=0)
    opt = AdamW(model.parameters(), lr=1e-4)
    args = dict(loss=CrossEntropyLoss(), metrics={"acc": Accuracy(num_classes=10)},
                callbacks=[timer])
    if COMM.size == 1 and not zero:
        loop = BasicTrainingLoop(model, opt, **args)
    else:
        from odyssey_training.distributed import DistributedTrainingLoop
        loop = DistributedTrainingLoop(model, opt, zero=zero, **args)
    train = ArrayLoader(x, y, batch_size=batch // COMM.size, seed=0, rank=COMM.rank,
                        world_size=COMM.size)
    return loop, train, None


def steps(model: str, zero: bool, warmup: int, epochs: int) -> dict:
    timer = StepTimes(warmup)
    if model == "job":
        loop, train, val = _job(timer, epochs, zero)
    else:                                   # mlp20m-BATCH
        loop, train, val = _mlp20m(timer, zero, int(model.split("-")[1]))
    params = sum(p.data.size for p in loop.model.parameters())
    if model == "job":      # as odyssey-train runs it: BLAS on one thread (its matrices are small)
        from threadpoolctl import threadpool_limits
        with threadpool_limits(limits=1, user_api="blas"):
            loop.fit(train, val, epochs=epochs)
    else:
        loop.fit(train, val, epochs=epochs)
    per_rank = allgather_trees(COMM, [timer.state_bytes, timer.peak])
    return {"model": model, "ranks": COMM.size, "zero": zero, "params": params,
            "step_s": timer.steps, "epoch_s": timer.epochs, "steps_per_epoch": len(train),
            "phases_rank0": timer.phases,
            "state_bytes": [r[0] for r in per_rank], "peak_rss_bytes": [r[1] for r in per_rank]}


def main(argv: list[str]) -> None:
    if argv[0] == "allreduce":
        result = allreduce(int(argv[1]), [int(a) for a in argv[2:]])
    else:
        result = steps(argv[1], argv[2] == "zero", int(argv[3]), int(argv[4]))
    if COMM.rank == 0:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
