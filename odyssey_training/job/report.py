"""The main job's final report: a :class:`Summary` of the run, as text and JSON."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["Summary", "format_report"]


@dataclass
class Summary:
    """What a finished run reports (``summary.json`` in the run directory)."""

    model: str                     # "MLP 64-256-10 (NumPy, float32)"
    data: str                      # Dataset.describe()
    optimizer: str                 # "AdamW (lr 0.002, weight_decay 0.05)"
    schedule: str
    epochs: int                    # configured
    epochs_run: int                # epochs in the history (all processes of the run)
    stopped_early: bool
    monitor: str                   # what "best" means ([checkpoint] monitor)
    best_epoch: int                # 0-based
    best_value: float              # the monitored value at best_epoch
    val_loss: float                # of the best checkpoint, on the validation set
    val_accuracy: float
    val_f1: float                  # macro F1
    seconds: float                 # wall time of fit in this process (kernel compiles included)
    epoch_seconds: float           # median wall time of this process's epochs
    epochs_this_process: int
    resumed_from_epoch: int | None
    run_dir: str
    files: dict[str, str] = field(default_factory=dict)   # label -> path
    #: the inputs the model was trained on: (pixels / scale - mean) / std
    scaling: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def _shown(path: str, cwd: Path) -> str:
    """``path`` relative to the working directory when it is inside it."""
    try:
        return os.path.relpath(path, cwd) if Path(path).resolve().is_relative_to(cwd) else path
    except ValueError:
        return path


def format_report(s: Summary, cwd: Path | None = None) -> str:
    """The report printed at the end of a run."""
    cwd = (cwd or Path.cwd()).resolve()
    stop = (f"early stopping after epoch {s.epochs_run}" if s.stopped_early
            else f"all {s.epochs} epochs")
    resumed = (f", resumed at epoch {s.resumed_from_epoch + 1}"
               if s.resumed_from_epoch is not None else "")
    lines = [
        "",
        f"model           {s.model}",
        f"data            {s.data}",
        f"optimizer       {s.optimizer}",
        f"schedule        {s.schedule}",
        f"best epoch      {s.best_epoch + 1} of {s.epochs_run} ({stop}; best {s.monitor} "
        f"{s.best_value:.4f})",
        f"val accuracy    {s.val_accuracy:.4f}",
        f"val F1 (macro)  {s.val_f1:.4f}",
        f"val loss        {s.val_loss:.4f}",
        f"time per epoch  {s.epoch_seconds:.3f} s (median; training took {s.seconds:.1f} s "
        f"for {s.epochs_this_process} epochs{resumed})",
        f"run directory   {_shown(s.run_dir, cwd)}",
    ]
    width = max(len(label) for label in s.files) if s.files else 0
    lines += [f"  {label.ljust(width)}  {_shown(path, cwd)}" for label, path in s.files.items()]
    return "\n".join(lines) + "\n"
