"""ModelCheckpoint on scripted metric sequences: Keras 3's filepath, save_best_only
and save_freq rules and Lightning's save_top_k / save_last / every_n_epochs, written
out by hand (keras_reference.py and worked cases), driven by a fake loop."""

from __future__ import annotations

import os
import tempfile

import pytest
from hypothesis import assume, given, settings, strategies as st

from odyssey_training.callbacks import ModelCheckpoint
from odyssey_training.checkpoint import load_checkpoint, read_checkpoint

from .keras_reference import checkpoint_files, keras_batch_saves
from .monitor_fakes import FakeLoop, FakeModel


def run(cb, values, loop=None, key="val_loss"):
    """Epoch-level run; the parameters hold the epoch number.  Returns the file
    names in the checkpoint directory after each epoch."""
    loop = loop or FakeLoop()
    cb.set_loop(loop)
    cb.on_train_begin()
    folder = os.path.dirname(cb.filepath)
    seen = []
    for epoch, value in enumerate(values):
        loop.model.mark(epoch)
        cb.on_epoch_begin(epoch)
        logs = {"loss": 0.5}
        if value is not None:
            logs[key] = value
        cb.on_epoch_end(epoch, logs)
        seen.append(set(os.listdir(folder)) if os.path.isdir(folder) else set())
    cb.on_train_end({})
    return seen


def epoch_in(path):
    """The epoch whose parameters the checkpoint at ``path`` holds."""
    model = FakeModel()
    load_checkpoint(path, model=model)
    return float(model.params[0].data[0])


def test_keras_default_saves_every_epoch_with_the_template(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "m-{epoch:02d}-{val_loss:.4f}.safetensors"))
    seen = run(cb, [0.5, 0.25, 0.75])
    assert seen[-1] == {"m-01-0.5000.safetensors", "m-02-0.2500.safetensors",
                        "m-03-0.7500.safetensors"}
    assert epoch_in(tmp_path / "m-02-0.2500.safetensors") == 1.0
    content = read_checkpoint(tmp_path / "m-01-0.5000.safetensors")
    assert content["optimizer"] == {"param_groups": [{"lr": 1.0}]}
    assert content["loop"] == {"stop_training": False}
    only = ModelCheckpoint(str(tmp_path / "w.safetensors"), save_weights_only=True)
    run(only, [0.5])
    content = read_checkpoint(tmp_path / "w.safetensors")
    assert content["optimizer"] is None and content["loop"] is None


def test_save_best_only_to_one_path_holds_the_best_epoch(tmp_path, capsys):
    cb = ModelCheckpoint(str(tmp_path / "best.safetensors"), save_best_only=True, verbose=1)
    run(cb, [0.5, 0.25, 0.75, 0.3])
    assert epoch_in(tmp_path / "best.safetensors") == 1.0 and cb.best == 0.25
    out = capsys.readouterr().out
    assert "Epoch 2: val_loss improved from 0.50000 to 0.25000, saving model to" in out
    assert "Epoch 3: val_loss did not improve from 0.25000" in out


def test_save_best_only_with_a_template_keeps_each_improvement(tmp_path):
    # Keras never deletes: every improving epoch leaves its file
    cb = ModelCheckpoint(str(tmp_path / "e{epoch}.safetensors"), monitor="val_acc",
                         mode="max", save_best_only=True, initial_value_threshold=0.6)
    seen = run(cb, [0.5, 0.7, 0.65, 0.8], key="val_acc")
    assert seen == [set(), {"e2.safetensors"}, {"e2.safetensors"},
                    {"e2.safetensors", "e4.safetensors"}]


def test_top_k_keeps_the_best_and_deletes_the_rest(tmp_path):
    # scores 0.5, 0.25, 0.75 (not admitted: worse than both kept), 0.1 (evicts 0.5)
    cb = ModelCheckpoint(str(tmp_path / "e{epoch}.safetensors"), save_top_k=2, save_last=True)
    seen = run(cb, [0.5, 0.25, 0.75, 0.1])
    assert seen[2] == {"e1.safetensors", "e2.safetensors", "last.safetensors"}
    assert seen[3] == {"e2.safetensors", "e4.safetensors", "last.safetensors"}
    assert cb.kept == [(str(tmp_path / "e2.safetensors"), 0.25),
                       (str(tmp_path / "e4.safetensors"), 0.1)]
    assert epoch_in(tmp_path / "last.safetensors") == 3.0


def test_top_k_ties_keep_the_older_file(tmp_path):
    # Lightning admits only a strictly better score once k are kept
    cb = ModelCheckpoint(str(tmp_path / "e{epoch}.safetensors"), save_top_k=1)
    assert run(cb, [0.5, 0.5])[-1] == {"e1.safetensors"}


def test_top_k_zero_writes_only_last_and_every_n_epochs(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "e{epoch}.safetensors"), save_top_k=0,
                         save_last=True, every_n_epochs=2)
    seen = run(cb, [0.5, 0.4, 0.3])
    assert seen == [set(), {"last.safetensors"}, {"last.safetensors"}]
    assert epoch_in(tmp_path / "last.safetensors") == 1.0


TEMPLATES = ["m-{epoch:02d}-{val_loss:.2f}.safetensors",    # one name per epoch
             "m-{val_loss:.2f}.safetensors",                 # names collide on equal scores
             "best.safetensors"]                             # one name


@settings(max_examples=60)
@given(st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, float("nan")]), min_size=1,
                max_size=8),
       st.sampled_from(TEMPLATES), st.sampled_from(["min", "max"]), st.booleans(),
       st.sampled_from([None, 0.5]), st.sampled_from([-1, 0, 1, 2, 3]), st.integers(1, 2),
       st.booleans())
def test_files_on_disk_match_keras_and_lightning(values, template, mode, best_only,
                                                 threshold, top_k, every, last):
    assume(top_k in (-1, 0, 1) or "{" in template)
    with tempfile.TemporaryDirectory() as folder:
        cb = ModelCheckpoint(os.path.join(folder, template), mode=mode,
                             save_best_only=best_only, initial_value_threshold=threshold,
                             save_top_k=top_k, every_n_epochs=every, save_last=last)
        seen = run(cb, values)
        expected = checkpoint_files(values, template=template, mode=mode,
                                    save_best_only=best_only,
                                    initial_value_threshold=threshold, save_top_k=top_k,
                                    every_n_epochs=every, save_last=last)
        assert seen == expected
        for name in seen[-1] - {"last.safetensors"}:       # each file holds its epoch
            epoch = epoch_in(os.path.join(folder, name))
            assert template.format(epoch=int(epoch) + 1, val_loss=values[int(epoch)]) == name


@pytest.mark.parametrize("freq, per_epoch, epochs", [(4, 3, 3), (1, 2, 2), (3, 3, 2), (7, 2, 5)])
def test_save_freq_counts_batches_as_keras(tmp_path, freq, per_epoch, epochs):
    cb = ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}-{loss:.1f}.safetensors"),
                         save_freq=freq)
    loop = FakeLoop()
    cb.set_loop(loop)
    for epoch in range(epochs):
        cb.on_epoch_begin(epoch)
        for batch in range(per_epoch):
            cb.on_train_batch_end(batch, {"batch": batch, "size": 8, "loss": 0.5})
        cb.on_epoch_end(epoch, {"loss": 0.5, "val_loss": 0.1})
    expected = {f"e{e + 1}-b{b + 1}-0.5.safetensors"
                for e, b in keras_batch_saves(per_epoch, epochs, freq)}
    assert set(os.listdir(tmp_path)) == expected and expected


def test_record_survives_a_resume_and_top_k_goes_on(tmp_path):
    values = [0.5, 0.4, 0.6, 0.3, 0.45, 0.2]
    template = "e{epoch}.safetensors"
    whole_dir, part_dir = tmp_path / "whole", tmp_path / "part"
    whole = ModelCheckpoint(str(whole_dir / template), save_top_k=2)
    run(whole, values)
    first = ModelCheckpoint(str(part_dir / template), save_top_k=2)
    run(first, values[:3])
    state = first.state_dict()
    second = ModelCheckpoint(str(part_dir / template), save_top_k=2)
    second.load_state_dict(state)
    loop = FakeLoop(resuming=True)
    second.set_loop(loop)
    for epoch in range(3, len(values)):
        loop.model.mark(epoch)
        second.on_epoch_end(epoch, {"val_loss": values[epoch]})
    assert sorted(os.listdir(part_dir)) == sorted(os.listdir(whole_dir)) == [
        "e4.safetensors", "e6.safetensors"]


def test_only_rank_zero_writes_but_every_rank_keeps_the_record(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "e{epoch}.safetensors"), save_top_k=1,
                         save_last=True)
    loop = FakeLoop()
    loop.is_global_zero = False
    run(cb, [0.5, 0.25], loop=loop)
    assert not tmp_path.exists() or os.listdir(tmp_path) == []
    assert cb.kept == [(str(tmp_path / "e2.safetensors"), 0.25)]


def test_a_failed_write_leaves_the_record_and_files_alone(tmp_path, monkeypatch):
    cb = ModelCheckpoint(str(tmp_path / "e{epoch}.safetensors"), save_top_k=1,
                         save_best_only=True)
    run(cb, [0.5])
    import odyssey_training.checkpoint as ckpt

    def full_disk(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(ckpt, "write_payload", full_disk)
    with pytest.raises(OSError, match="No space"):
        run(cb, [0.25])
    assert cb.kept == [(str(tmp_path / "e1.safetensors"), 0.5)] and cb.best == 0.5
    assert os.listdir(tmp_path) == ["e1.safetensors"]


def test_errors(tmp_path):
    path = str(tmp_path / "e{epoch}.safetensors")
    with pytest.raises(ValueError, match="must end in '.safetensors'"):
        ModelCheckpoint(str(tmp_path / "m.keras"))
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        ModelCheckpoint(path, save_freq="batch")
    with pytest.raises(ValueError, match="save_freq must be >= 1"):
        ModelCheckpoint(path, save_freq=0)
    with pytest.raises(ValueError, match="save_top_k must be >= -1"):
        ModelCheckpoint(path, save_top_k=-2)
    with pytest.raises(ValueError, match="every_n_epochs applies"):
        ModelCheckpoint(path, save_freq=10, every_n_epochs=2)
    with pytest.raises(ValueError, match="no \\{field\\}"):
        ModelCheckpoint(str(tmp_path / "best.safetensors"), save_top_k=3)
    with pytest.raises(ValueError, match="must not be a template"):
        ModelCheckpoint(str(tmp_path / "{epoch}" / "m.safetensors"), save_last=True)
    with pytest.raises(ValueError, match="hold no 'val_loss'"):
        ModelCheckpoint(path, save_freq=5, save_best_only=True)
    with pytest.raises(ValueError, match="must be a log key"):
        ModelCheckpoint(str(tmp_path / "{epoch.real}.safetensors"))
    with pytest.raises(ValueError, match="not a valid template"):
        ModelCheckpoint(str(tmp_path / "{epoch.safetensors"))
    with pytest.raises(ValueError, match="mode must be one of"):
        ModelCheckpoint(path, mode="best")
    with pytest.raises(KeyError, match="names 'val_acc'.*available: epoch, loss, val_loss"):
        run(ModelCheckpoint(str(tmp_path / "{val_acc:.2f}.safetensors")), [0.5])
    with pytest.raises(ValueError, match="cannot determine"):
        run(ModelCheckpoint(path, monitor="val_f1", save_best_only=True), [0.5], key="val_f1")
    with pytest.raises(ValueError, match="is the save_last file"):
        run(ModelCheckpoint(str(tmp_path / "last.safetensors"), save_last=True), [0.5])
    (tmp_path / "d.safetensors").mkdir()
    with pytest.raises(IsADirectoryError, match="existing directory"):
        run(ModelCheckpoint(str(tmp_path / "d.safetensors")), [0.5])
    with pytest.raises(ValueError, match="kept must be a list"):
        ModelCheckpoint(path).load_state_dict({"best": None, "batches_since_save": 0,
                                               "kept": [["a", "b"]]})


def test_async_save_writes_what_a_synchronous_save_writes(tmp_path):
    """The same run with async_save: the same files, the same content, each holding
    the parameters of the epoch it was taken at (the arrays were copied), and the
    evicted files gone once training ends."""
    values = [0.5, 0.25, 0.75, 0.125, 0.3]
    folders = {}
    for mode in (False, True):
        folder = tmp_path / str(mode)
        cb = ModelCheckpoint(str(folder / "e{epoch}-{val_loss:.3f}.safetensors"),
                             save_top_k=2, save_last=True, async_save=mode)
        run(cb, values)
        folders[mode] = folder
    names = sorted(os.listdir(folders[False]))
    assert names == sorted(os.listdir(folders[True])) == [
        "e2-0.250.safetensors", "e4-0.125.safetensors", "last.safetensors"]
    for name in names:
        sync, background = (read_checkpoint(folders[m] / name) for m in (False, True))
        assert epoch_in(folders[True] / name) == epoch_in(folders[False] / name)
        assert sync["loop"] == background["loop"]
    assert epoch_in(folders[True] / "last.safetensors") == 4.0


def test_async_save_reports_a_failed_write(tmp_path, monkeypatch):
    import odyssey_training.checkpoint as ckpt

    def full_disk(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(ckpt, "write_payload", full_disk)
    cb = ModelCheckpoint(str(tmp_path / "e{epoch}.safetensors"), async_save=True)
    with pytest.raises(ckpt.CheckpointError, match="No space left"):
        run(cb, [0.5, 0.4])
    assert os.listdir(tmp_path) == []


def test_async_writes_in_flight_finish_when_training_fails(tmp_path):
    """An exception ends training: on_exception waits for the queued writes, so the
    epoch-end checkpoint taken before the failure is on disk when fit re-raises."""
    from odyssey_training.callbacks import LambdaCallback
    from odyssey_training.loops import BasicTrainingLoop
    from odyssey_training.optimizers import SGD

    from ..loops.toy import TinyMLP, batches, blobs, softmax_xent

    class Crash(Exception):
        pass

    def crash(epoch, logs):
        if epoch == 2:
            raise Crash

    model = TinyMLP()
    cb = ModelCheckpoint(str(tmp_path / "e{epoch}.safetensors"), save_last=True,
                         async_save=True)
    loop = BasicTrainingLoop(model, SGD(model.parameters(), lr=0.1), loss=softmax_xent,
                             callbacks=[LambdaCallback(on_epoch_begin=crash), cb])
    with pytest.raises(Crash):
        loop.fit(batches(*blobs(32), 8), epochs=5)
    assert sorted(os.listdir(tmp_path)) == ["e1.safetensors", "e2.safetensors",
                                            "last.safetensors"]
    assert read_checkpoint(tmp_path / "last.safetensors")["loop"]["epoch"] == 2


@pytest.mark.parametrize("async_save", [False, True])
def test_last_file_is_the_ranked_file_of_an_improving_epoch(tmp_path, async_save):
    # one state, one write: save_last links to the file the epoch just wrote
    cb = ModelCheckpoint(str(tmp_path / "e{epoch}.safetensors"), save_top_k=1,
                         save_last=True, async_save=async_save)
    run(cb, [0.5, 0.7])
    cb.on_train_end()
    best, last = tmp_path / "e1.safetensors", tmp_path / "last.safetensors"
    assert not os.path.samefile(best, last)      # epoch 2 did not improve: its own file
    assert epoch_in(best) == 0.0 and epoch_in(last) == 1.0
    run(cb, [0.1])
    cb.on_train_end()
    assert os.path.samefile(tmp_path / "e1.safetensors", last)
