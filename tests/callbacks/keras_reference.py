"""Keras 3's EarlyStopping and ReduceLROnPlateau decisions, transcribed by hand
from keras/src/callbacks/{monitor_callback,early_stopping,reduce_lr_on_plateau}.py
(Keras 3, 2025), with Keras's own arithmetic (``min_delta *= -1`` for "min" and
``monitor_op(current - min_delta, reference)``) so the tests compare against an
independent statement of the rules, not against the code under test.

Each function runs Keras's ``fit`` epoch loop over a scripted sequence of monitored
values (one per epoch; None = the key is absent that epoch) and returns what a
test observes."""

from __future__ import annotations

import operator

import numpy as np


def _monitor_op(mode, min_delta):
    """Keras's _set_monitor_op for mode "min"/"max": (op, signed min_delta)."""
    min_delta = abs(min_delta)
    if mode == "min":
        return operator.lt, -min_delta
    return operator.gt, min_delta


def keras_early_stopping(values, *, mode, min_delta=0, patience=0, baseline=None,
                         restore_best_weights=False, start_from_epoch=0):
    """Returns dict(epochs_run, stopped_epoch, best, best_epoch, wait, restored_epoch),
    where ``restored_epoch`` is the epoch whose weights are restored at train end
    (None when none are), weights being identified by the epoch they were taken at."""
    op, min_delta = _monitor_op(mode, min_delta)

    def is_improvement(value, reference):
        if reference is None:
            return True
        return op(value - min_delta, reference)

    wait, stopped_epoch, best, best_weights, best_epoch = 0, 0, None, None, 0
    epochs_run = 0
    for epoch, current in enumerate(values):
        epochs_run += 1
        stop = False
        if current is not None and epoch >= start_from_epoch:
            if restore_best_weights and best_weights is None:
                best_weights, best_epoch = epoch, epoch
            wait += 1
            if is_improvement(current, best):
                best, best_epoch = current, epoch
                if restore_best_weights:
                    best_weights = epoch
                if baseline is None or is_improvement(current, baseline):
                    wait = 0
            elif wait >= patience and epoch > 0:
                stopped_epoch, stop = epoch, True
        if stop:
            break
    return {"epochs_run": epochs_run, "stopped_epoch": stopped_epoch, "best": best,
            "best_epoch": best_epoch, "wait": wait,
            "restored_epoch": best_weights if restore_best_weights else None}


def keras_reduce_lr(values, lrs, *, mode, factor=0.1, patience=10, min_delta=1e-4,
                    cooldown=0, min_lr=0.0):
    """Returns (logged learning_rate per epoch, lrs after each epoch per group,
    (best, wait, cooldown_counter) after the last epoch).  Each param group plays
    the part of one of Keras's optimizers; its lr is kept as a Python float."""
    op, min_delta = _monitor_op(mode, min_delta)
    lrs = list(lrs)
    best, wait, cooldown_counter = None, 0, 0
    logged, after = [], []
    for current in values:
        logged.append(float(lrs[0]))
        if current is not None:
            if cooldown_counter > 0:
                cooldown_counter -= 1
                wait = 0
            if best is None or op(current - min_delta, best):
                best, wait = current, 0
            elif not cooldown_counter > 0:
                wait += 1
                if wait >= patience:
                    reduced = False
                    for i, old_lr in enumerate(lrs):
                        if old_lr > np.float32(min_lr):
                            lrs[i] = max(old_lr * factor, min_lr)
                            reduced = True
                    if reduced:
                        cooldown_counter, wait = cooldown, 0
        after.append(list(lrs))
    return logged, after, (best, wait, cooldown_counter)


def keras_batch_saves(batches_per_epoch, epochs, save_freq):
    """Keras 3 ModelCheckpoint._should_save_on_batch over a run: the (epoch, batch)
    pairs (0-based) after which a save_freq=int checkpoint is written."""
    seen_since, last_seen, saves = 0, None, []
    for epoch in range(epochs):
        for batch in range(batches_per_epoch):
            if last_seen is None or batch <= last_seen:
                add = batch + 1
            else:
                add = batch - last_seen
            seen_since += add
            last_seen = batch
            if seen_since >= save_freq:
                seen_since = 0
                saves.append((epoch, batch))
    return saves


def checkpoint_files(values, *, template, mode, save_best_only=False,
                     initial_value_threshold=None, save_top_k=-1, every_n_epochs=1,
                     save_last=False):
    """The file names on disk after each epoch of an epoch-level ModelCheckpoint:
    Keras 3's save_best_only decision (min_delta 0, a strict comparison with the
    best, starting from initial_value_threshold) followed by Lightning's top-k
    bookkeeping (check_monitor_top_k: fewer than k kept, or strictly better than
    the worst kept, which is deleted; a NaN ranks worst), and save_last's file.
    A save to a name already kept must beat that file's score (the documented
    rule for colliding names)."""
    better = operator.lt if mode == "min" else operator.gt
    def worst_first(score):        # the smallest key is the worst file
        return -np.inf if np.isnan(score) else (score if mode == "max" else -score)

    def beats(value, score):
        return not np.isnan(value) and (np.isnan(score) or better(value, score))

    best, kept, out = initial_value_threshold, {}, []    # kept: name -> score, oldest first
    for epoch, value in enumerate(values):
        if (epoch + 1) % every_n_epochs == 0:
            name = template.format(epoch=epoch + 1, val_loss=value)
            write = True
            if save_best_only:
                write = best is None or better(value, best)
                if write:
                    best = value
            if save_top_k == 0:
                write = False
            elif write and save_top_k > 0:
                if name in kept:
                    write = beats(value, kept[name])
                elif len(kept) >= save_top_k:
                    write = beats(value, min(kept.values(), key=worst_first))
            if write:
                kept.pop(name, None)
                kept[name] = value
                if 0 < save_top_k < len(kept):
                    names = list(kept)
                    worst = min(names, key=lambda n: (worst_first(kept[n]), names.index(n)))
                    del kept[worst]
        files = set(kept)
        if save_last and epoch + 1 >= every_n_epochs:
            files.add("last.safetensors")
        out.append(files)
    return out
