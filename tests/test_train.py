"""Trainer: determinism, evaluation, best-epoch selection, exact resume after SIGKILL/Ctrl-C."""

import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

from glaucoma_lib.metrics import roc_auc
from glaucoma_lib.nn import checkpoint, weight_files
from glaucoma_lib.nn.checkpoint import STATE_KEY
from glaucoma_lib.nn.history import History
from glaucoma_lib.nn.network import NetworkConfig, build_network
from glaucoma_lib.nn.train import Trainer, evaluate_epochs
from glaucoma_lib.nn.weight_files import (
    WeightsError,
    json_entry,
    parse_json_entry,
    read_npz,
    save_npz,
)

CONFIG = {"input_dim": (3, 12, 12), "channels": (4, 4, 4, 4, 4, 4), "hidden_size": 8}


def toy_data(n=40, seed=0):
    """Class 1 images are brighter in the red channel: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) % 2
    x = rng.random((n, 3, 12, 12), dtype=np.float32)
    x[:, 0] += 0.5 * t[:, None, None]
    return x, t


def make_trainer(tmp_path=None, seed=0, **kw):
    x, t = toy_data()
    net = build_network(NetworkConfig(**CONFIG, seed=seed))
    kw = {"epochs": 3, "mini_batch_size": 8, "optimizer": "Adam",
          "optimizer_param": {"lr": 0.01}, "verbose": False, "seed": seed, "scorer": roc_auc,
          **kw}
    return Trainer(net, x[:30], t[:30], x_test=x[30:], t_test=t[30:],
                   x_val=x[24:30], t_val=t[24:30], **kw)


def same_weights(a, b):
    sa, sb = a.state_arrays(), b.state_arrays()
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)


def comparable(history):
    return {**history.__dict__, "epoch_seconds": None}


def test_history_shape_and_json(tmp_path):
    trainer = make_trainer()
    history = trainer.train()
    assert history.iter_per_epoch == 4 and len(history.train_loss) == 12  # ceil(30 / 8) = 4
    assert history.epochs_completed == 3 and not history.interrupted
    assert all(0 <= a <= 1 for a in history.train_acc + history.val_auc + history.test_acc)
    frame = history.to_frame()
    assert list(frame.index) == [1, 2, 3] and "val_auc" in frame
    assert History.from_json(history.to_json(tmp_path / "h.json")) == history
    assert History.from_json(tmp_path / "h.json") == history


def test_iterations_per_epoch_match_the_original():
    net = build_network(NetworkConfig(**CONFIG))
    x = np.zeros((800, 3, 12, 12), np.float32)
    assert Trainer(net, x, np.zeros(800, int), mini_batch_size=50).iter_per_epoch == 16


def test_same_seed_same_weights_and_history_bitwise():
    a, b = make_trainer(), make_trainer()
    ha, hb = a.train(), b.train()
    assert same_weights(a.network, b.network)
    assert comparable(ha) == comparable(hb)
    c = make_trainer(seed=1)
    c.train()
    assert not same_weights(a.network, c.network)


def test_evaluates_on_all_images_unless_told():
    trainer = make_trainer(epochs=1)
    x, t = trainer.sets["test"]
    history = trainer.train()
    assert history.test_acc[0] == trainer.network.accuracy(x, t)
    first = make_trainer(epochs=1, evaluate_sample_num_per_epoch=4)
    h = first.train()
    assert h.test_acc[0] == first.network.accuracy(x[:4], t[:4])


def test_select_best_restores_the_best_epoch():
    trainer = make_trainer(epochs=4, select_best_by="val_loss", optimizer_param={"lr": 0.05})
    history = trainer.train()
    best = history.best_epoch
    assert history.val_loss[best - 1] == min(history.val_loss)
    x, t = trainer.sets["val"]
    assert np.isclose(trainer.evaluate(x, t)[2], history.val_loss[best - 1], rtol=1e-6)
    with pytest.raises(ValueError, match="validation"):
        Trainer(trainer.network, x, t, select_best_by="val_auc")


def test_lr_schedule_augment_and_balanced_sampling():
    seen = []

    def augment(batch, rng):
        seen.append(len(batch))
        return batch + rng.normal(0, 0.01, batch.shape).astype(batch.dtype)

    trainer = make_trainer(lr_schedule=lambda epoch: 0.01 / (epoch + 1), augment=augment,
                           balanced_sampling=True)
    history = trainer.train()
    assert history.lr == [0.01, 0.005, 0.01 / 3]
    assert sum(seen) == 90  # every epoch is one pass over 30 samples
    t = trainer.t_train[trainer._epoch_order()]
    assert abs(int((t == 1).sum()) - 15) <= 1


RUN = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_train import make_trainer
    checkpoint, out, resume = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    trainer = make_trainer(epochs=6, checkpoint_path=checkpoint, resume=resume,
                           augment=lambda x, rng: (time.sleep(0.03), x)[1])
    history = trainer.train()
    trainer.network.save_params(out)
    """
)


def test_killed_run_resumes_to_identical_weights(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(RUN.format(tests=os.path.dirname(__file__)))
    checkpoint, out = tmp_path / "ck.npz", tmp_path / "resumed.npz"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen([sys.executable, str(script), str(checkpoint), str(out), "0"], env=env)
    deadline = time.time() + 60
    while not checkpoint.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert checkpoint.exists() and not out.exists(), "the run was not killed mid-training"
    subprocess.run([sys.executable, str(script), str(checkpoint), str(out), "1"], env=env,
                   check=True, timeout=120)

    reference = make_trainer(epochs=6, augment=lambda x, rng: x)
    history = reference.train()
    resumed = build_network(NetworkConfig(**CONFIG))
    resumed.load_params(out)
    assert same_weights(reference.network, resumed)
    again = make_trainer(epochs=6, checkpoint_path=checkpoint, resume=True)
    assert comparable(again.train()) == comparable(history)  # finished: only reloads


def test_ctrl_c_checkpoints_and_resumes_exactly(tmp_path):
    calls = []

    def interrupt_on_fifth_batch(x, rng):
        calls.append(1)
        if len(calls) == 5:  # mid-epoch 2
            os.kill(os.getpid(), signal.SIGINT)
        return x

    checkpoint = tmp_path / "ck.npz"
    stopped = make_trainer(checkpoint_path=checkpoint, augment=interrupt_on_fifth_batch)
    partial = stopped.train()
    assert partial.interrupted and partial.epochs_completed == 1
    assert len(partial.train_loss) == 5 and checkpoint.exists()

    resumed = make_trainer(checkpoint_path=checkpoint, resume=True, augment=lambda x, rng: x)
    history = resumed.train()
    reference = make_trainer(augment=lambda x, rng: x)
    expected = reference.train()
    assert not history.interrupted
    assert same_weights(resumed.network, reference.network)
    assert comparable(history) == comparable(expected)


def test_checkpoint_of_another_setup_is_refused(tmp_path):
    checkpoint = tmp_path / "ck.npz"
    make_trainer(epochs=1, checkpoint_path=checkpoint).train()
    with pytest.raises(WeightsError, match="batch size"):
        make_trainer(checkpoint_path=checkpoint, resume=True, mini_batch_size=5).train()


def tampered(tmp_path, name, arrays=None, state=None):
    """A copy of a one-epoch checkpoint with some arrays and state fields replaced."""
    source = tmp_path / "ck.npz"
    if not source.exists():
        make_trainer(epochs=1, checkpoint_path=source).train()
    stored = read_npz(source)
    stored.update(arrays or {})
    current = parse_json_entry(source, STATE_KEY, stored[STATE_KEY])
    stored[STATE_KEY] = (json_entry({**current, **state}) if isinstance(state, dict)
                         else state if state is not None else stored[STATE_KEY])
    return save_npz(tmp_path / name, stored)


def bad_checkpoints(tmp_path):
    weights = read_npz(tampered(tmp_path, "copy.npz"))
    w1, order = weights["net/W1"].copy(), weights["order"]
    w1[0, 0, 0, 0] = np.nan
    return [
        (tampered(tmp_path, "nan.npz", {"net/W1": w1}), "net/W1 holds NaN"),
        (tampered(tmp_path, "shape.npz", {"optim/m/W1": np.zeros(3, np.float32)}), "mis-shapes"),
        (tampered(tmp_path, "extra.npz", {"optim/zz/W1": w1 * 0}), "unexpected entries"),
        (tampered(tmp_path, "order.npz", {"order": np.zeros_like(order)}), "not a permutation"),
        (tampered(tmp_path, "short.npz", {"order": order[:-1]}), "order must be 30"),
        (tampered(tmp_path, "pos.npz", state={"position": 99}), "position must be"),
        (tampered(tmp_path, "neg.npz", state={"epoch": -1}), "epoch must be"),
        (tampered(tmp_path, "hist.npz", state={"epoch": 2}), "history .* does not match"),
        (tampered(tmp_path, "rng.npz", state={"rng": {"state": 5}}), "rng|state"),
        (tampered(tmp_path, "lr.npz", state={"optimizer": {"lr": "x", "iter": 1,
                                                           "class": "Adam"}}), "optimizer.lr"),
        (tampered(tmp_path, "gone.npz", state={"history": None}), "history must be"),
        (tampered(tmp_path, "json.npz", state=np.frombuffer(b"{not json", np.uint8)),
         "not valid JSON"),
    ]


def test_damaged_checkpoints_are_refused_before_anything_is_restored(tmp_path):
    for path, problem in bad_checkpoints(tmp_path):
        trainer = make_trainer(checkpoint_path=path, resume=True)
        before = {k: v.copy() for k, v in trainer.network.state_arrays().items()}
        with pytest.raises(WeightsError, match=problem) as info:
            trainer.load_checkpoint(path)
        assert str(path) in str(info.value)
        assert all(np.array_equal(before[k], v)
                   for k, v in trainer.network.state_arrays().items())
        assert trainer.epoch == 0 and trainer.position == 0


@pytest.mark.parametrize("sample_num", [None, 5])
def test_scoring_kept_epoch_weights_afterwards_gives_the_same_history(sample_num):
    x, t = toy_data()
    during = make_trainer(evaluate_sample_num_per_epoch=sample_num)
    during.train()
    later = Trainer(build_network(NetworkConfig(**CONFIG, seed=0)), x[:30], t[:30], x_val=x[24:30],
                    t_val=t[24:30], epochs=3, mini_batch_size=8, optimizer="Adam",
                    optimizer_param={"lr": 0.01}, verbose=False, seed=0, score_train=False,
                    evaluate_sample_num_per_epoch=sample_num, keep_epoch_weights=True,
                    scorer=roc_auc)
    history = later.train()
    assert history.train_acc == [None] * 3 and len(later.epoch_weights) == 3
    assert same_weights(later.network, during.network)
    other = build_network(NetworkConfig(**CONFIG, seed=1))  # its own weights are overwritten
    for name, (xs, ts) in {"train": (x[:30], t[:30]), "test": (x[30:], t[30:])}.items():
        history.set_scores(name, evaluate_epochs(other, later.epoch_weights, xs, ts, sample_num,
                                                 roc_auc))
    assert history.to_frame().equals(during.history.to_frame().assign(
        epoch_seconds=history.to_frame()["epoch_seconds"]))
    assert history.test_loss == during.history.test_loss and history.val_loss[0] is not None
    assert history.train_loss == during.history.train_loss


def test_select_best_restores_an_early_best_epoch():
    """Validation losses 0.5, 0.3, 0.9, 0.8 (scripted): the network ends with epoch 2's weights,
    a copy taken then, not the arrays that kept training."""
    trainer = make_trainer(epochs=4, select_best_by="val_loss", keep_epoch_weights=True)
    scripted = iter([0.5, 0.3, 0.9, 0.8])
    scored = trainer.evaluate

    def evaluate(x, t):
        acc, auc, loss = scored(x, t)
        return (acc, auc, next(scripted)) if x is trainer.sets["val"][0] else (acc, auc, loss)

    trainer.evaluate = evaluate
    history = trainer.train()
    assert history.val_loss == [0.5, 0.3, 0.9, 0.8] and history.best_epoch == 2
    final, (_, second, _, last) = trainer.network.state_arrays(), trainer.epoch_weights
    assert all(np.array_equal(final[k], second[k]) for k in final)
    assert not all(np.array_equal(final[k], last[k]) for k in final)


def write_member(zf, name, header, data_bytes):
    """One .npy member: a header, then `data_bytes` zero bytes streamed (never held)."""
    with zf.open(name + ".npy", "w", force_zip64=True) as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        chunk = bytes(2**20)
        for start in range(0, data_bytes, len(chunk)):
            fh.write(chunk[: data_bytes - start])


def test_checkpoint_bomb_is_refused_from_the_zip_directory(tmp_path, monkeypatch):
    """A small file whose members unpack far beyond what this network's shapes allow is refused
    before any member is read, with the entry named (not "no __state__ entry")."""
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        write_member(zf, "net/W1", {"descr": "<f4", "fortran_order": False,
                                    "shape": (2**20,)}, 4 * 2**20)
    assert bomb.stat().st_size < 100_000
    read = []
    monkeypatch.setattr(weight_files, "_read_member", lambda *a, **k: read.append(a))
    trainer = make_trainer(checkpoint_path=bomb, resume=True)
    with pytest.raises(WeightsError, match=r"bomb.npz: entry 'net/W1' unpacks to 4,194,432 "):
        trainer.train()
    assert read == []


@pytest.mark.parametrize(("state", "problem"), [
    (b"[" * 200 + b"]" * 200, "nests 200 deep, above the limit of 32"),
    (b"[0]", "__state__ must be a JSON object"),
    (b'{"a": "' + b"[" * 300 + b'\\" ["}', "missing field 'config'"),  # brackets in a string
])
def test_checkpoint_state_json_is_bounded_and_named(tmp_path, state, problem):
    path = tampered(tmp_path, "state.npz", state=np.frombuffer(state, np.uint8))
    with pytest.raises(WeightsError, match=problem):
        make_trainer(checkpoint_path=path, resume=True).train()


def test_checkpoint_state_larger_than_the_run_can_write_is_refused(tmp_path):
    source = tampered(tmp_path, "copy.npz")
    padded = json_entry(parse_json_entry(source, STATE_KEY, read_npz(source)[STATE_KEY]))
    spaces = checkpoint.state_budget(make_trainer()) + 2 * weight_files.NPY_HEADER_BYTES
    padded = np.concatenate([padded, np.full(spaces, 32, np.uint8)])  # still valid JSON
    path = tampered(tmp_path, "padded.npz", state=padded)
    with pytest.raises(WeightsError, match=r"padded.npz: entry '__state__' unpacks to"):
        make_trainer(checkpoint_path=path, resume=True).train()
    make_trainer(checkpoint_path=source, resume=True).train()  # the unpadded one loads


def test_checkpoint_without_state_says_so(tmp_path):
    arrays = read_npz(tampered(tmp_path, "copy.npz"))
    del arrays[STATE_KEY]
    path = save_npz(tmp_path / "nostate.npz", arrays)
    with pytest.raises(WeightsError, match="not a training checkpoint .no __state__ entry"):
        make_trainer(checkpoint_path=path, resume=True).train()
