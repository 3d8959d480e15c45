"""CSVLogger: Keras 3's rows and header, keys that appear later, append and resume."""

from __future__ import annotations

import numpy as np
import pytest

from odyssey_training.callbacks import CSVLogger, LambdaCallback
from odyssey_training.loops import BasicTrainingLoop
from odyssey_training.optimizers import SGD

from ..loops.toy import TinyMLP, batches, blobs, softmax_xent
from .fake import attach


def run_epochs(cb, logs_per_epoch, start=0):
    cb.on_train_begin(None)
    for i, logs in enumerate(logs_per_epoch):
        cb.on_epoch_end(start + i, dict(logs))
    cb.on_train_end(None)


def test_rows_are_epoch_then_sorted_keys_at_full_precision(tmp_path):
    path = tmp_path / "log.csv"
    cb, _ = attach(CSVLogger(path))
    run_epochs(cb, [{"loss": 0.5, "acc": 0.25, "lr": 0.1},
                    {"loss": np.float64(1 / 3), "acc": np.float32(0.5), "lr": 0.1}])
    assert path.read_text() == ("epoch,acc,loss,lr\n"
                                "0,0.25,0.5,0.1\n"
                                "1,0.5,0.3333333333333333,0.1\n")


def test_each_row_is_on_disk_when_its_epoch_ends(tmp_path):
    path = tmp_path / "log.csv"
    cb, _ = attach(CSVLogger(path))
    cb.on_train_begin(None)
    cb.on_epoch_end(0, {"loss": 2.0})
    assert path.read_text() == "epoch,loss\n0,2.0\n"     # before on_train_end
    cb.on_epoch_end(1, {"loss": 1.0})
    assert path.read_text() == "epoch,loss\n0,2.0\n1,1.0\n"


def test_val_keys_that_appear_later_widen_the_header_with_na(tmp_path):
    # validate_every=2: epochs 1 and 3 have val_ logs; Keras writes NA where a key is absent
    path = tmp_path / "log.csv"
    cb, _ = attach(CSVLogger(path))
    run_epochs(cb, [{"loss": 0.9, "lr": 0.1},
                    {"loss": 0.8, "lr": 0.1, "val_loss": 0.85, "val_acc": 0.5},
                    {"loss": 0.7, "lr": 0.1},
                    {"loss": 0.6, "lr": 0.1, "val_loss": 0.65, "val_acc": 0.75}])
    assert path.read_text() == ("epoch,loss,lr,val_acc,val_loss\n"
                                "0,0.9,0.1,NA,NA\n"
                                "1,0.8,0.1,0.5,0.85\n"
                                "2,0.7,0.1,NA,NA\n"
                                "3,0.6,0.1,0.75,0.65\n")
    assert not list(tmp_path.glob(".*tmp"))          # the rewrite left no temporary file


def test_separator_and_non_numeric_values(tmp_path):
    path = tmp_path / "log.csv"
    cb, _ = attach(CSVLogger(path, separator=";"))
    run_epochs(cb, [{"loss": 1.5, "note": "a;b", "per_class": [0.5, 1.0], "n": 3}])
    assert path.read_text() == 'epoch;loss;n;note;per_class\n0;1.5;3;"a;b";[0.5, 1.0]\n'


def test_a_fresh_run_truncates_and_append_true_appends_under_the_header(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss\n0,9.0\n1,8.0\n")
    cb, _ = attach(CSVLogger(path))
    run_epochs(cb, [{"loss": 1.0}])
    assert path.read_text() == "epoch,loss\n0,1.0\n"
    cb, _ = attach(CSVLogger(path, append=True))
    run_epochs(cb, [{"loss": 0.5}])          # Keras: appended, header not repeated
    assert path.read_text() == "epoch,loss\n0,1.0\n0,0.5\n"


def test_append_to_a_missing_or_empty_file_writes_the_header(tmp_path):
    path = tmp_path / "sub" / "log.csv"
    cb, _ = attach(CSVLogger(path, append=True))
    run_epochs(cb, [{"loss": 1.0}])
    assert path.read_text() == "epoch,loss\n0,1.0\n"
    path.write_text("")
    run_epochs(cb, [{"loss": 2.0}])
    assert path.read_text() == "epoch,loss\n0,2.0\n"


def test_a_run_starting_later_continues_the_file_and_drops_rerun_epochs(tmp_path):
    # the interrupted run wrote epochs 0..3; the run resumes at epoch 2 (an older backup)
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss\n0,4.0\n1,3.0\n2,2.0\n3,1.0\n")
    cb, _ = attach(CSVLogger(path))                      # append=False: still continues
    run_epochs(cb, [{"loss": 2.5, "val_loss": 2.6}, {"loss": 1.5, "val_loss": 1.6}], start=2)
    assert path.read_text() == ("epoch,loss,val_loss\n"
                                "0,4.0,NA\n1,3.0,NA\n"
                                "2,2.5,2.6\n3,1.5,1.6\n")


def test_only_the_global_zero_process_writes(tmp_path):
    path = tmp_path / "log.csv"
    cb, loop = attach(CSVLogger(path))
    loop.is_global_zero = False
    run_epochs(cb, [{"loss": 1.0}])
    assert not path.exists()


def test_a_foreign_file_is_not_appended_to(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("step,value\n1,2\n")
    cb, _ = attach(CSVLogger(path, append=True))
    cb.on_train_begin(None)
    with pytest.raises(ValueError, match="'epoch' column"):
        cb.on_epoch_end(0, {"loss": 1.0})
    assert path.read_text() == "step,value\n1,2\n"


@pytest.mark.parametrize("kwargs, error", [
    ({"filename": 3}, TypeError), ({"filename": "a.csv", "separator": ",,"}, ValueError),
    ({"filename": "a.csv", "separator": "\n"}, ValueError),
    ({"filename": "a.csv", "append": "yes"}, TypeError)])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        CSVLogger(**kwargs)


class Crash(Exception):
    pass


def make_loop(csv_path, extra=()):
    model = TinyMLP(seed=3)
    opt = SGD(model.parameters(), lr=0.1)
    return BasicTrainingLoop(model, opt, loss=softmax_xent,
                             callbacks=[CSVLogger(csv_path), *extra])


def test_the_csv_is_appended_on_resume(tmp_path):
    """A run saves its loop state after epoch 0 and crashes inside epoch 2 (rows 0 and
    1 written); a new process restores the state and finishes: rows 0 (first run),
    1, 2, 3 (resumed run), one header, even with append=False."""
    path = tmp_path / "log.csv"
    x, y = blobs(48)
    data = batches(x, y, 16)
    saved = {}

    def save_or_crash(epoch, logs):
        if epoch == 0:
            saved["state"] = first.state_dict()

    def crash(batch, logs):
        if first.epoch == 2 and batch == 1:
            raise Crash

    first = make_loop(path, [LambdaCallback(on_epoch_end=save_or_crash,
                                            on_train_batch_end=crash)])
    with pytest.raises(Crash):
        first.fit(data, epochs=4)
    rows = path.read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["epoch", "0", "1"]
    first_row0 = rows[1]

    second = make_loop(path)
    second.load_state_dict(saved["state"])
    history = second.fit(data, epochs=4)
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,loss,lr"
    assert lines[1] == first_row0
    assert [r.split(",")[0] for r in lines[1:]] == ["0", "1", "2", "3"]
    assert history.epoch == [0, 1, 2, 3]      # the restored epoch, then the resumed run's
    for row, loss in zip(lines[2:], history.history["loss"][1:]):
        assert float(row.split(",")[1]) == loss


def test_a_real_run_with_validate_every_two(tmp_path):
    path = tmp_path / "log.csv"
    x, y = blobs(48)
    data = batches(x, y, 16)
    loop = make_loop(path)
    history = loop.fit(data, val_data=data, epochs=3, validate_every=2)
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,loss,lr,val_loss"
    assert lines[1].endswith(",NA") and lines[3].endswith(",NA")
    assert float(lines[2].split(",")[3]) == history.history["val_loss"][0]
