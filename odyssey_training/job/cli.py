"""``odyssey-train`` (also ``python -m odyssey_training``): the main job's command line.

Exit codes: 0 the run finished; 1 it failed while training (the message says why; an
unfinished run keeps its last checkpoint for ``--resume``); 2 a bad flag, configuration,
data directory or run directory (nothing was trained); 130 interrupted (Ctrl-C).

Under ``mpiexec -n N`` (detected from the launcher's environment, or forced with
``--distributed``) every rank runs the job as a ``DistributedTrainingLoop``: the
same configuration and run directory (rank 0's), ``batch_size`` split over the
ranks, rank 0 writing everything; a setup error on any rank stops every rank
before training, an error while training ends them all (``MPI_Abort``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

from .config import ConfigError, absolute_paths, dumps_toml, load_toml, resolve, set_path
from .models import MODELS, model_options
from .run import FILES, last_checkpoint, prepare, train

__all__ = ["main", "build_parser", "FLAGS", "DEFAULT_RUNS"]

#: where runs go without --run-dir: runs/run-001, runs/run-002, ...
DEFAULT_RUNS = Path("runs")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas (256,128), "
                                         f"got {text!r}") from None


#: flag, config key, value parser, metavar, help
FLAGS: tuple[tuple[str, str, Callable[[str], Any], str, str], ...] = (
    ("--model", "model.name", str, "NAME", f"model to train: {', '.join(MODELS)} (default mlp)"),
    ("--hidden", "model.hidden", _int_list, "N,N", "MLP hidden sizes (default 256)"),
    ("--data", "data.source", str, "DIR",
     "MNIST-format IDX files to train on (default: the embedded UCI digits)"),
    ("--epochs", "epochs", _int, "N", "epochs (default 40)"),
    ("--batch-size", "batch_size", _int, "N", "training batch size (default 32)"),
    ("--seed", "seed", _int, "N", "seed of init, split and shuffling (default 0)"),
    ("--optimizer", "optimizer.name", str, "NAME|SPEC",
     "a standard optimizer (AdamW, Adam, SGD, ...) or a spec .toml (default AdamW)"),
    ("--lr", "optimizer.lr", _float, "LR", "learning rate (default 0.002 for AdamW)"),
    ("--weight-decay", "optimizer.weight_decay", _float, "WD",
     "weight decay (default 0.05 for AdamW)"),
    ("--schedule", "schedule.name", str, "NAME",
     "lr scheduler (default WarmupCosine; 'none' for a constant lr)"),
    ("--warmup-steps", "schedule.warmup_steps", _int, "N",
     "WarmupCosine warmup steps (default: one epoch)"),
    ("--total-steps", "schedule.total_steps", _int, "N",
     "WarmupCosine total steps (default: the whole run)"),
    ("--patience", "early_stopping.patience", _int, "N",
     "epochs without improvement before early stopping (default 10)"),
)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    parser = argparse.ArgumentParser(
        prog="odyssey-train",
        description="Train the reference model (a NumPy MLP on the embedded UCI 8x8 digits "
                    "by default) and write a run directory: checkpoints, CSV and TensorBoard "
                    "logs, plots, the resolved config and a report.",
        epilog="Precedence: defaults < --config file < flags.  Exit codes: 0 done, 1 failed "
               "while training, 2 bad arguments or configuration, 130 interrupted.")
    parser.add_argument("--config", metavar="TOML", help="a run configuration (see "
                        "docs/training.md; --print-config shows every key)")
    for flag, key, parse, metavar, text in FLAGS:
        parser.add_argument(flag, dest=key, type=parse, metavar=metavar, help=text)
    parser.add_argument("--run-dir", metavar="DIR",
                        help=f"run directory to create (default {DEFAULT_RUNS}/run-NNN)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue an unfinished run from its last checkpoint, with "
                             "its own config")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--distributed", action="store_true",
                        help="train on the ranks of an MPI job (mpiexec -n N odyssey-train; "
                             "implied when mpiexec starts several processes; needs the "
                             "'distributed' extra)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved configuration as TOML and exit")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _layers(args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    layers = []
    if args.config:
        layers.append((args.config, load_toml(args.config)))
    for flag, key, *_ in FLAGS:
        value = getattr(args, key)
        if value is not None:
            layer: dict[str, Any] = {}
            set_path(layer, key, value)
            layers.append((flag, absolute_paths(layer, Path.cwd())))
    return layers


def _next_run_dir() -> Path:
    taken = [int(p.name[4:]) for p in DEFAULT_RUNS.glob("run-*") if p.name[4:].isdigit()]
    return DEFAULT_RUNS / f"run-{max(taken, default=0) + 1:03d}"


def _new_run(args: argparse.Namespace) -> tuple[dict[str, Any], Path]:
    config = resolve(_layers(args), model_options)
    return config, Path(args.run_dir) if args.run_dir else _next_run_dir()


def _check_free(run_dir: Path) -> None:
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise ConfigError(f"--run-dir {run_dir} exists and is not an empty directory; choose "
                          f"another, or continue it with --resume {run_dir}")


def _resumed_run(args: argparse.Namespace) -> tuple[dict[str, Any], Path]:
    run_dir = Path(args.resume)
    given = [flag for flag, key, *_ in FLAGS if getattr(args, key) is not None]
    given += [f for f, v in (("--config", args.config), ("--run-dir", args.run_dir)) if v]
    if given:
        raise ConfigError(f"--resume continues a run with its own {FILES['config']}; drop "
                          f"{', '.join(given)}")
    config_path = run_dir / FILES["config"]
    if not config_path.is_file():
        raise ConfigError(f"--resume {run_dir}: not a run directory (no {FILES['config']})")
    if (run_dir / FILES["summary"]).exists():
        raise ConfigError(f"--resume {run_dir}: the run has finished ({FILES['summary']} "
                          "exists); start a new one with --config "
                          f"{config_path}")
    config = resolve([(str(config_path), absolute_paths(load_toml(config_path),
                                                        config_path.parent))], model_options)
    return config, run_dir


def _start_over(run_dir: Path) -> None:
    """A run killed before its first checkpoint restarts from scratch: drop what it wrote."""
    print(f"odyssey-train: {run_dir} has no checkpoint yet; starting the run over",
          file=sys.stderr)
    for name in ("checkpoints", "tensorboard"):
        shutil.rmtree(run_dir / FILES[name], ignore_errors=True)
    (run_dir / FILES["csv"]).unlink(missing_ok=True)


def _communicator(args: argparse.Namespace) -> Any:
    """MPI's world when the job is distributed (``--distributed``, or a launcher that
    started several processes), else None."""
    from ..distributed.mpi import launched_rank
    if not (args.distributed or (launched_rank()[1] or 1) > 1) or args.print_config:
        return None
    from ..distributed import MPI       # starts MPI; errors now end every rank
    return MPI.COMM_WORLD


def _agree(comm: Any, failure: tuple[int, str] | None) -> tuple[int, str] | None:
    """Every rank's setup outcome; the first failure (exit code and message naming its
    rank) on every rank, so all stop together or none does."""
    if comm is None or comm.Get_size() == 1:
        return failure
    from ..distributed.transport import allgather_trees
    for rank, theirs in enumerate(allgather_trees(comm, failure and list(failure))):
        if theirs is not None:
            return theirs[0], f"rank {rank}: {theirs[1]}"
    return None


def _setup(args: argparse.Namespace, comm: Any,
           callbacks: Sequence[Any]) -> tuple[Any, Path | None, tuple[int, str] | None]:
    """(job, run directory, failure) of this rank; a failure is (exit code, message)."""
    run_dir: Path | None = None
    try:
        config, run_dir = _resumed_run(args) if args.resume else _new_run(args)
        if comm is not None and comm.Get_size() > 1:     # rank 0 picks the directory
            from ..distributed.transport import bcast_tree
            run_dir = Path(bcast_tree(comm, str(run_dir)))
        if not args.resume and (comm is None or comm.Get_rank() == 0):
            _check_free(run_dir)
        job = prepare(config, run_dir, progress=False if args.quiet else None,
                      callbacks=callbacks, comm=comm)
        return job, run_dir, None
    except ConfigError as exc:
        return None, run_dir, (2, str(exc))
    except ImportError as exc:      # an extra is missing; the message names it
        return None, run_dir, (1, str(exc))


def main(argv: Sequence[str] | None = None, *, callbacks: Sequence[Any] = ()) -> int:
    """Run ``odyssey-train`` with ``argv`` (default ``sys.argv[1:]``); returns the exit
    code.  ``callbacks`` are added to the job's (for tests and embedding)."""
    args = build_parser().parse_args(argv)
    run_dir: Path | None = None
    try:
        if args.print_config:
            config, _ = _resumed_run(args) if args.resume else _new_run(args)
            sys.stdout.write(dumps_toml(config))
            return 0
        comm = _communicator(args)
        job, run_dir, failure = _setup(args, comm, callbacks)
        failure = _agree(comm, failure)
        if failure is not None:
            print(f"odyssey-train: error: {failure[1]}", file=sys.stderr)
            return failure[0]
        if args.resume and not last_checkpoint(run_dir).exists() and job.loop.is_global_zero:
            _start_over(run_dir)
        train(job, resume=bool(args.resume))
    except ConfigError as exc:
        print(f"odyssey-train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = f"; continue with: odyssey-train --resume {run_dir}" if run_dir else ""
        print(f"\nodyssey-train: interrupted{hint}", file=sys.stderr)
        return 130
    except ImportError as exc:      # an extra is missing; the message names it
        print(f"odyssey-train: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:        # a failure while training: say what, keep the checkpoints
        if not isinstance(exc, RuntimeError):       # e.g. TerminateOnNaN's: no traceback
            traceback.print_exc()
        print(f"odyssey-train: training failed: {exc}\n(the run directory {run_dir} keeps its "
              f"last checkpoint: fix the cause and continue with odyssey-train --resume "
              f"{run_dir})", file=sys.stderr)
        return 1
    return 0
