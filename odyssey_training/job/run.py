"""One run of the main job: build everything from a resolved configuration, train,
evaluate the best checkpoint, draw the plots and write the report.

:func:`prepare` builds the data, model, optimizer, schedule, loop and callbacks
and checks them (a :class:`ConfigError` before anything is written);
:func:`train` runs a prepared job in its run directory.  The run directory::

    config.toml            the resolved configuration (odyssey-train --config it to rerun)
    checkpoints/           the best checkpoint(s) by [checkpoint] monitor, and last.safetensors
                           (the full state after the latest epoch: what --resume continues)
    metrics.csv            one row per epoch (CSVLogger)
    tensorboard/           event files (TensorBoardLogger): tensorboard --logdir RUN_DIR
    curves.png             loss and accuracy per epoch
    confusion_matrix.png   the best checkpoint's confusion matrix on the validation set
    summary.json           the report's numbers; its presence marks a finished run
    report.txt             the report printed at the end
"""

from __future__ import annotations

import importlib.util
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..callbacks.base import Callback
from .build import build_optimizer, build_scheduler, describe_optimizer, describe_schedule
from .config import ConfigError, dumps_toml
from .datasets import Dataset, load_dataset
from .models import ModelEntry, build_model
from .report import Summary, format_report

__all__ = ["Job", "prepare", "train", "last_checkpoint", "FILES", "VAL_BATCH_SIZE"]

#: the run directory's entries
FILES = {"config": "config.toml", "checkpoints": "checkpoints", "csv": "metrics.csv",
         "tensorboard": "tensorboard", "curves": "curves.png",
         "confusion": "confusion_matrix.png", "summary": "summary.json",
         "report": "report.txt"}
#: what the job imports to write its files (the ``train`` extra)
TRAIN_EXTRA = ("safetensors", "tqdm", "tensorboardX", "matplotlib")
#: validation runs in inference mode; large batches cost nothing in accuracy
VAL_BATCH_SIZE = 1024
#: the scalar metrics of every epoch (training and validation)
METRIC_NAMES = ("accuracy", "f1")


@dataclass
class Job:
    """Everything a run needs, built and checked, nothing written yet."""

    config: dict[str, Any]
    run_dir: Path
    data: Dataset
    model: Any
    entry: ModelEntry
    loop: Any
    train_loader: Any
    val_loader: Any
    checkpoint: Any                 # the ModelCheckpoint callback
    early_stopping: Any | None
    clock: EpochClock
    descriptions: dict[str, str] = field(default_factory=dict)


def _metrics(num_classes: int) -> dict[str, Any]:
    from ..metrics import Accuracy, F1Score
    return {"accuracy": Accuracy(num_classes=num_classes),
            "f1": F1Score(num_classes=num_classes, average="macro", zero_division=0)}


def _check_monitor(section: str, monitor: str) -> None:
    keys = ["loss", *METRIC_NAMES, "lr"]
    known = keys + [f"val_{k}" for k in keys if k != "lr"]
    if monitor not in known:
        raise ConfigError(f"[{section}] monitor: {monitor!r} is not logged (logged: "
                          f"{', '.join(known)})")


def _checkpoint_template(run_dir: Path, monitor: str) -> str:
    return str(run_dir / FILES["checkpoints"] / f"epoch{{epoch:03d}}-{monitor}"
               f"{{{monitor}:.4f}}.safetensors")


def prepare(config: dict[str, Any], run_dir: Path, *, progress: bool | None = None,
            callbacks: Sequence[Any] = (), comm: Any = None) -> Job:
    """Build the job of ``config`` (resolved) in ``run_dir``.  ``progress``: None draws
    the bar on a terminal only, False never; ``callbacks`` run after the job's own
    loggers and before its checkpoint writers.  With ``comm`` (an MPI communicator of
    N ranks) the job is a ``DistributedTrainingLoop``: ``batch_size`` stays the global
    batch, each rank taking ``batch_size / N`` of it, so the run is the one-process run."""
    from ..data import ArrayLoader
    from ..losses import CrossEntropyLoss
    from ..loops import BasicTrainingLoop

    missing = [name for name in TRAIN_EXTRA if importlib.util.find_spec(name) is None]
    if missing:             # say so before training, not when the first file is written
        raise ImportError(f"odyssey-train needs the 'train' extra: pip install -e '.[train]' "
                          f"or pip install 'odyssey-training[train]' (missing: "
                          f"{', '.join(missing)})")
    seed, epochs = config["seed"], config["epochs"]
    data = load_dataset(config["data"]["source"], config["data"]["val_fraction"], seed)
    model, entry = build_model(config["model"], data.x_train.shape[1:], data.num_classes, seed)
    optimizer = build_optimizer(config["optimizer"], model.parameters())
    ranks = _ranks(comm, config["batch_size"])
    train_loader = ArrayLoader(entry.inputs(data.x_train), data.y_train,
                               batch_size=config["batch_size"] // ranks["world_size"],
                               shuffle=True, seed=seed, **ranks)
    val_loader = ArrayLoader(entry.inputs(data.x_val), data.y_val,
                             batch_size=VAL_BATCH_SIZE // ranks["world_size"], shuffle=False,
                             **ranks)
    optimizer_text = describe_optimizer(optimizer)      # before a schedule rewrites the lr
    scheduler, interval = build_scheduler(config["schedule"], optimizer, len(train_loader),
                                          epochs)
    ordered, checkpoint, early, clock = _callbacks(config, run_dir, progress, callbacks)
    loss = CrossEntropyLoss(label_smoothing=config["loss"]["label_smoothing"])
    loop_class, options = BasicTrainingLoop, {}
    if comm is not None:
        from ..distributed import DistributedTrainingLoop
        loop_class, options = DistributedTrainingLoop, {"comm": comm}
    try:
        loop = loop_class(model, optimizer, loss=loss, scheduler=scheduler,
                          metrics=_metrics(data.num_classes), callbacks=ordered,
                          scheduler_interval=interval, seed=seed, **options)
    except (TypeError, ValueError) as exc:      # e.g. a plateau schedule stepped per step
        raise ConfigError(f"[schedule] {exc}") from None
    descriptions = {"model": entry.describe(model), "data": data.describe(),
                    "optimizer": optimizer_text,
                    "schedule": describe_schedule(scheduler, interval)}
    return Job(config, run_dir, data, model, entry, loop, train_loader, val_loader, checkpoint,
               early, clock, descriptions)


def _ranks(comm: Any, batch_size: int) -> dict[str, int]:
    """This process's ``rank`` and ``world_size`` for the loaders (0 and 1 without MPI)."""
    if comm is None:
        return {"rank": 0, "world_size": 1}
    rank, size = comm.Get_rank(), comm.Get_size()
    if batch_size % size:
        raise ConfigError(f"batch_size {batch_size} is the global batch; it must be a "
                          f"multiple of the {size} ranks")
    return {"rank": rank, "world_size": size}


def _callbacks(config: dict[str, Any], run_dir: Path, progress: bool | None,
               extra: Sequence[Any]) -> tuple[list, Any, Any, EpochClock]:
    """The job's callbacks in their order, and the ModelCheckpoint, EarlyStopping (or
    None) and EpochClock among them."""
    from ..callbacks import (CSVLogger, EarlyStopping, ModelCheckpoint, ProgressBar,
                             TensorBoardLogger, TerminateOnNaN, ThroughputMonitor)
    stopping, saving = config["early_stopping"], config["checkpoint"]
    _check_monitor("checkpoint", saving["monitor"])
    early = None
    if stopping["enabled"]:
        _check_monitor("early_stopping", stopping["monitor"])
        early = EarlyStopping(monitor=stopping["monitor"], patience=stopping["patience"],
                              min_delta=stopping["min_delta"])
    checkpoint = ModelCheckpoint(_checkpoint_template(run_dir, saving["monitor"]),
                                 monitor=saving["monitor"], save_top_k=saving["save_top_k"],
                                 save_last=True)
    clock = EpochClock()
    # the bar before ThroughputMonitor: its epoch line shows the metrics, not the timings
    own = [clock, TerminateOnNaN(raise_error=True),
           ProgressBar(disable=None if progress is None else not progress), ThroughputMonitor(),
           CSVLogger(run_dir / FILES["csv"]), TensorBoardLogger(run_dir / FILES["tensorboard"])]
    # ModelCheckpoint writes after the other callbacks at each epoch end (the loop orders
    # it so), so last.safetensors holds their state after that epoch
    return own + list(extra) + ([early] if early else []) + [checkpoint], checkpoint, early, clock


def _limit_blas_threads() -> Any:
    """One BLAS thread for the job's small matrices: OpenBLAS's threads spin-wait, and on
    a busy 2-core machine a threaded 32x256 product can take 30x longer than one thread."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=1, user_api="blas")


def last_checkpoint(run_dir: Path) -> Path:
    """The checkpoint ``--resume`` continues: ``checkpoints/last.safetensors``."""
    from ..callbacks import ModelCheckpoint
    return run_dir / FILES["checkpoints"] / ModelCheckpoint.last_name


def train(job: Job, *, resume: bool = False, out: Any = None) -> Summary | None:
    """Train ``job`` in its run directory, evaluate the best checkpoint, write plots,
    summary and report; print the report to ``out`` (default stdout).  With
    ``resume``, first restore the model, optimizer, schedule and loop (callbacks, data
    position, RNG) from the run's last checkpoint when there is one, as Lightning's
    ``fit(ckpt_path="last")``: the run then continues as if never interrupted.
    Returns the summary.  Under MPI every rank trains (and restores); rank 0 alone
    writes, evaluates and reports, the others return None after training."""
    import sys
    out = out or sys.stdout
    run_dir = job.run_dir
    writer = job.loop.is_global_zero
    if writer:
        run_dir.mkdir(parents=True, exist_ok=True)
    if writer and not resume:
        from ..checkpoint import atomic_write_text
        atomic_write_text(run_dir / FILES["config"], dumps_toml(job.config))
    last = last_checkpoint(run_dir)
    if resume and last.exists():
        from ..checkpoint import CheckpointError, load_checkpoint
        loop = job.loop
        try:
            load_checkpoint(last, model=loop.model, optimizer=loop.optimizer,
                            scheduler=loop.scheduler, loop=loop)
        except (CheckpointError, ValueError) as exc:
            raise ConfigError(f"--resume {run_dir}: {last} does not load: {exc}") from None
    limits = _limit_blas_threads()
    try:
        start = time.perf_counter()
        history = job.loop.fit(job.train_loader, job.val_loader, epochs=job.config["epochs"])
        seconds = time.perf_counter() - start
        if not writer:
            return None
        best_path, best_epoch = _best_checkpoint(job)
        values, counts = _evaluate_best(job, best_path)
    finally:
        if limits is not None:
            limits.restore_original_limits()
    summary = _summarize(job, history, best_path, best_epoch, values, seconds)
    _write_outputs(job, history, summary, counts, out)
    return summary


class EpochClock(Callback):
    """Where a ``fit`` started (the epoch a restored checkpoint continues, else None) and
    the wall time of each epoch it ran (from its start to its logs, validation
    included)."""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        point = self.loop.resume_point()     # set when a checkpoint was restored
        self.resumed_from = point[0] if point is not None else None
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def _best_checkpoint(job: Job) -> tuple[Path, int]:
    from ..checkpoint import read_checkpoint
    ckpt = job.checkpoint
    if not ckpt.kept:
        raise RuntimeError(f"no checkpoint was kept by {ckpt.monitor!r}; nothing to evaluate")
    sign = 1.0 if ckpt.lower_is_better else -1.0

    def rank(entry: tuple[str, float | None]) -> float:      # smaller is better
        score = entry[1]
        return math.inf if score is None or math.isnan(score) else sign * score
    path = min(reversed(ckpt.kept), key=rank)[0]            # the newest among equals
    state = read_checkpoint(path)
    return Path(path), int(state["loop"]["epoch"]) - 1


def _evaluate_best(job: Job, path: Path) -> tuple[dict[str, float], Any]:
    from ..checkpoint import load_checkpoint
    from ..loops import evaluate
    from ..metrics import ConfusionMatrix
    load_checkpoint(path, model=job.model)
    confusion = ConfusionMatrix(num_classes=job.data.num_classes)
    loader = job.val_loader
    if loader.world_size > 1:           # rank 0 evaluates the whole validation set
        from ..data import ArrayLoader
        loader = ArrayLoader(loader.x, loader.y, batch_size=VAL_BATCH_SIZE, shuffle=False)
    values = evaluate(job.model, loader, loss=job.loop.loss,
                      metrics={**_metrics(job.data.num_classes), "confusion": confusion})
    return values, confusion.compute()


def _summarize(job: Job, history: Any, best_path: Path, best_epoch: int,
               values: dict[str, float], seconds: float) -> Summary:
    import statistics
    clock, run_dir = job.clock, job.run_dir
    monitor = job.checkpoint.monitor
    best_value = history.history[monitor][history.epoch.index(best_epoch)]
    files = {"config": run_dir / FILES["config"], "best checkpoint": best_path,
             "last checkpoint": last_checkpoint(run_dir),
             "CSV log": run_dir / FILES["csv"],
             "TensorBoard": run_dir / FILES["tensorboard"],
             "curves": run_dir / FILES["curves"], "confusion matrix": run_dir / FILES["confusion"],
             "summary": run_dir / FILES["summary"]}
    return Summary(**job.descriptions, epochs=job.config["epochs"],
                   epochs_run=len(history.epoch),
                   stopped_early=bool(job.early_stopping and job.early_stopping.stopped_epoch),
                   monitor=monitor, best_epoch=best_epoch, best_value=float(best_value),
                   val_loss=values["loss"], val_accuracy=values["accuracy"],
                   val_f1=values["f1"], seconds=seconds,
                   epoch_seconds=statistics.median(clock.seconds) if clock.seconds else 0.0,
                   epochs_this_process=len(clock.seconds), resumed_from_epoch=clock.resumed_from,
                   run_dir=str(run_dir), files={k: str(v) for k, v in files.items()},
                   scaling=dict(job.data.scaling))


def _write_outputs(job: Job, history: Any, summary: Summary, counts: Any, out: Any) -> None:
    from ..checkpoint import atomic_write_text
    from .plots import plot_confusion_matrix, plot_curves
    run_dir = job.run_dir
    plot_curves(history.history, history.epoch, run_dir / FILES["curves"], summary.best_epoch)
    plot_confusion_matrix(counts, run_dir / FILES["confusion"],
                          title=f"validation, epoch {summary.best_epoch + 1} "
                                f"(accuracy {summary.val_accuracy:.4f})")
    report = format_report(summary)
    atomic_write_text(run_dir / FILES["report"], report)
    atomic_write_text(run_dir / FILES["summary"], summary.to_json())   # last: "finished"
    out.write(report)
    out.flush()
