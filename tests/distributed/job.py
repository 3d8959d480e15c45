"""The runs the distributed tests launch with ``mpiexec -n N python -m tests.distributed.job``.

Every run builds the same training on each rank: the toy MLP (float32 weights, one
float64 bias, so there are two flat spaces), AdamW in two param groups, a per-step
WarmupCosine, accumulation over 2 batches, norm and value clipping, accuracy and
macro F1 (one shared confusion pass), validation, and an ArrayLoader of per-rank
batch ``B`` over 99 samples (the last global batch is short and splits unevenly).
:func:`build` with ``world=1`` and batch ``N*B`` is the one-process run it must equal.

Modes (rank 0 writes ``OUT/<name>.npz`` and ``OUT/<name>.json``):

``train OUT NAME ZERO``         train, saving ``OUT/NAME.ckpt`` mid-epoch and
                                mid-accumulation (from a writer callback on rank 0)
``resume OUT NAME ZERO CKPT``   load CKPT on every rank, fit to the end
``events OUT NAME ZERO``        no callbacks, accumulation over 3: the order of
                                forward passes and collectives, for the test that
                                micro-steps do not communicate
``raise`` / ``mismatch`` / ``callbacks``   faults (rank 1 raises at batch 3 / builds
                                another model / has another callback list)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from odyssey_training.callbacks import BackupAndRestore, Callback, History
from odyssey_training.checkpoint import load_checkpoint, save_checkpoint
from odyssey_training.data import ArrayLoader
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.losses import CrossEntropyLoss
from odyssey_training.metrics import Accuracy, F1Score
from odyssey_training.optimizers import AdamW
from odyssey_training.schedulers import WarmupCosine

from ..loops.toy import TinyMLP, blobs

SAMPLES, BATCH, EPOCHS, SAVE_AFTER = 99, 8, 4, 10   # 7 global batches per epoch


def data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    x, y = blobs(SAMPLES + 40, seed=3, dtype=np.float32)
    return (x[:SAMPLES], y[:SAMPLES]), (x[SAMPLES:], y[SAMPLES:])


def model(hidden: int = 8) -> TinyMLP:
    m = TinyMLP(hidden=hidden, seed=0, dtype=np.float32)
    m.b1.data = m.b1.data.astype(np.float64)        # a second dtype: a second flat space
    return m


def build(rank: int, world: int, batch: int, *, zero: bool = False, callbacks=(),
          accum: int = 2, hidden: int = 8, comm: Any = None):
    """(loop, train loader, val loader); a BasicTrainingLoop when ``world == 1`` and
    no ``comm`` is given."""
    (x, y), (xv, yv) = data()
    net = model(hidden)
    # the float64 bias between float32 groups: the shards' pieces (per dtype) and the
    # shard optimizer's parameters (per group) come in different orders
    opt = AdamW([{"params": [net.w1]}, {"params": [net.b1, net.b2], "weight_decay": 0.0},
                 {"params": [net.w2]}], lr=0.05)
    shard = {"rank": rank, "world_size": world}
    train = ArrayLoader(x, y, batch_size=batch, seed=7, **shard)
    val = ArrayLoader(xv, yv, batch_size=20 // world, shuffle=False, **shard)
    sched = WarmupCosine(opt, warmup_steps=2, total_steps=EPOCHS * len(train) // accum + 1)
    args = dict(loss=CrossEntropyLoss(), scheduler=sched, scheduler_interval="step",
                metrics={"acc": Accuracy(num_classes=3),
                         "f1": F1Score(num_classes=3, average="macro")},
                callbacks=list(callbacks), grad_accum_steps=accum, clip_grad_norm=1.0,
                clip_grad_value=0.3)
    if world == 1 and comm is None:
        return BasicTrainingLoop(net, opt, **args), train, val
    from odyssey_training.distributed import DistributedTrainingLoop
    loop = DistributedTrainingLoop(net, opt, zero=zero, bucket_mb=120 / 2**20, comm=comm,
                                   **args)
    return loop, train, val


class SaveAt(Callback):
    """Save a full checkpoint after training batch number ``after`` (counted over
    epochs), as any rank-0 writer does."""

    writes_checkpoints = True

    def __init__(self, path: str, after: int) -> None:
        self.path, self.after, self.seen = path, after, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.after and self.loop.is_global_zero:
            loop = self.loop
            save_checkpoint(self.path, model=loop.model, optimizer=loop.optimizer,
                            scheduler=loop.scheduler, loop=loop)


class ShardSizes(Callback):
    """Elements of optimizer state this rank holds at the end of training."""

    def on_train_end(self, logs=None):
        opt = getattr(self.loop.optimizer, "shard_optimizer", None) or self.loop.optimizer
        self.elements = int(sum(v.size for s in opt.state.values() for k, v in s.items()
                                if k != "step"))


def write(out: Path, name: str, loop: Any, extra: dict[str, Any]) -> None:
    from odyssey_training.distributed.transport import allgather_trees
    params = [p.data for p in loop.model.parameters()]
    everyone = allgather_trees(loop.comm, params)
    if loop.rank != 0:
        return
    same = all(all(np.array_equal(a, b) for a, b in zip(params, theirs)) for theirs in everyone)
    np.savez(out / f"{name}.npz", *params)
    (out / f"{name}.json").write_text(json.dumps({
        "history": loop.history.history, "bitwise_equal_on_all_ranks": same, **extra}))


def main(argv: list[str]) -> None:
    from odyssey_training.distributed import MPI
    comm = MPI.COMM_WORLD
    rank, world = comm.Get_rank(), comm.Get_size()
    mode = argv[0]
    if mode in ("raise", "mismatch", "callbacks"):
        return faults(mode, rank, world)
    out, name, zero = Path(argv[1]), argv[2], argv[3] == "zero"
    batch = BATCH * 2 // world
    if mode == "events":
        return events(out, name, zero, rank, world, batch)
    sizes = ShardSizes()
    callbacks = [sizes, BackupAndRestore(str(out / f"{name}-backup"), save_freq=3)]
    if mode == "train":
        callbacks.append(SaveAt(str(out / f"{name}.ckpt"), SAVE_AFTER))
    loop, train, val = build(rank, world, batch, zero=zero, callbacks=callbacks, comm=comm)
    if rank:        # fit starts from rank 0's parameters whatever the others hold
        for p in loop.model.parameters():
            p.data += 1.0
    if mode == "resume":
        load_checkpoint(argv[4], model=loop.model, optimizer=loop.optimizer,
                        scheduler=loop.scheduler, loop=loop)
    loop.fit(train, val, epochs=EPOCHS)
    counts = np.zeros(world, np.int64)
    comm.Allgather(np.array([sizes.elements], np.int64), counts)
    write(out, name, loop, {"state_elements": counts.tolist()})


def events(out: Path, name: str, zero: bool, rank: int, world: int, batch: int) -> None:
    """Record forward passes and collectives in order (accumulation over 3)."""
    from odyssey_training.distributed import MPI
    log: list[list[Any]] = []

    class Counting:
        def __getattr__(self, attr):
            real = getattr(MPI.COMM_WORLD, attr)
            if attr[0].isupper() and attr not in ("Get_rank", "Get_size", "Abort"):
                def call(*args, **kwargs):
                    log.append(["comm", attr])
                    return real(*args, **kwargs)
                return call
            return real

    loop, train, _ = build(rank, world, batch, zero=zero, accum=3, comm=Counting())
    forward = loop.model.forward

    def traced(x, training=True):
        log.append(["forward", loop.batches_done, len(train)])
        return forward(x, training)

    loop.model.forward = traced
    loop.fit(train, epochs=2)
    write(out, name, loop, {"events": log})


def faults(mode: str, rank: int, world: int) -> None:
    callbacks: list[Callback] = []
    if mode == "callbacks" and rank == 1:
        callbacks = [History()]
    loop, train, _ = build(rank, world, BATCH, callbacks=callbacks,
                           hidden=9 if mode == "mismatch" and rank == 1 else 8)
    if mode == "raise" and rank == 1:
        forward = loop.model.forward

        def failing(x, training=True):
            if loop.batches_done == 3:
                raise RuntimeError("injected failure on rank 1 at batch 3")
            return forward(x, training)

        loop.model.forward = failing
    loop.fit(train, epochs=EPOCHS)


if __name__ == "__main__":
    main(sys.argv[1:])
