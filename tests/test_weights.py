"""Weight files: exact round trip, and every bad file refused with a WeightsError."""

import io
import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glaucoma_lib.nn.network import (
    NetworkConfig,
    WeightsError,
    build_network,
    load_network,
)

SMALL = NetworkConfig(input_dim=(3, 16, 16), channels=(4, 4, 4, 4, 4, 4), hidden_size=8, seed=3)


@pytest.fixture
def saved(tmp_path):
    net = build_network(SMALL)
    path = net.save_params(tmp_path / "w.npz", extra_metadata={"epochs": 2})
    return net, path


def test_round_trip_gives_identical_predictions(saved, tmp_path):
    net, path = saved
    x = np.random.default_rng(0).random((5, 3, 16, 16), dtype=np.float32)
    other = build_network(NetworkConfig(**{**SMALL.__dict__, "seed": 4}))
    assert not np.array_equal(other.predict(x), net.predict(x))
    assert other.load_params(path) == {"epochs": 2}
    np.testing.assert_array_equal(other.predict(x), net.predict(x))
    rebuilt = load_network(path)
    assert rebuilt.config == net.config
    np.testing.assert_array_equal(rebuilt.predict(x), net.predict(x))
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]  # no temp files left behind


def test_batchnorm_running_stats_are_saved(tmp_path):
    net = build_network(NetworkConfig(**{**SMALL.__dict__, "batchnorm": True}))
    x = np.random.default_rng(0).random((6, 3, 16, 16), dtype=np.float32)
    net.gradient(x, np.arange(6) % 2)
    path = net.save_params(tmp_path / "bn.npz")
    rebuilt = load_network(path)
    np.testing.assert_array_equal(rebuilt.buffers["running_var3"], net.buffers["running_var3"])
    np.testing.assert_array_equal(rebuilt.predict(x), net.predict(x))


def test_name_without_npz_suffix_is_kept(tmp_path):
    path = build_network(SMALL).save_params(tmp_path / "weights.bin")
    assert path.exists() and not (tmp_path / "weights.bin.npz").exists()


def refuse(path, match):
    with pytest.raises(WeightsError, match=match) as info:
        build_network(SMALL).load_params(path)
    assert str(path) in str(info.value)


def test_empty_truncated_and_non_zip_files(saved, tmp_path):
    _, path = saved
    (tmp_path / "empty.npz").write_bytes(b"")
    refuse(tmp_path / "empty.npz", "empty")
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    refuse(tmp_path / "cut.npz", "truncated|corrupt|not a .npz")
    (tmp_path / "text.npz").write_text("not weights")
    refuse(tmp_path / "text.npz", "not a .npz")
    refuse(tmp_path / "missing.npz", "not found")


def test_wrong_architecture(tmp_path):
    other = build_network(NetworkConfig(**{**SMALL.__dict__, "hidden_size": 9}))
    refuse(other.save_params(tmp_path / "shape.npz"), "W7.*expected")
    bn = build_network(NetworkConfig(**{**SMALL.__dict__, "batchnorm": True}))
    refuse(bn.save_params(tmp_path / "names.npz"), "unexpected.*gamma1")
    f64 = build_network(NetworkConfig(**{**SMALL.__dict__, "dtype": "float64"}))
    refuse(f64.save_params(tmp_path / "dtype.npz"), "float64")


def test_nan_and_inf(saved, tmp_path):
    net, _ = saved
    net.params["W3"][0, 0, 0, 0] = np.nan
    refuse(net.save_params(tmp_path / "nan.npz"), "W3.*NaN")
    net.params["W3"][0, 0, 0, 0] = np.inf
    refuse(net.save_params(tmp_path / "inf.npz"), "NaN or inf")


def test_pickles_are_never_loaded(saved, tmp_path):
    net, _ = saved
    arrays = dict(net.state_arrays())
    arrays["W1"] = np.full(net.params["W1"].shape, object(), dtype=object)
    with open(tmp_path / "object.npz", "wb") as fh:
        np.savez(fh, **arrays)
    refuse(tmp_path / "object.npz", "objects")
    (tmp_path / "raw.pkl").write_bytes(pickle.dumps(net.params))
    refuse(tmp_path / "raw.pkl", "not a .npz")


def test_zip_with_foreign_member(saved, tmp_path):
    _, path = saved
    target = tmp_path / "foreign.npz"
    target.write_bytes(path.read_bytes())
    with zipfile.ZipFile(target, "a") as zf:
        zf.writestr("payload.py", "print('hi')")
    refuse(target, "non-array")


def test_load_network_needs_a_config(tmp_path):
    net = build_network(SMALL)
    with open(tmp_path / "bare.npz", "wb") as fh:
        np.savez(fh, **net.params)
    with pytest.raises(WeightsError, match="__config__"):
        load_network(tmp_path / "bare.npz")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=3000), st.integers(0, 2))
def test_fuzz_random_bytes_only_raise_weights_error(tmp_path, blob, mode):
    """Random bytes, or random bytes spliced into a real file, never crash the loader."""
    net = build_network(SMALL)
    buffer = io.BytesIO()
    np.savez(buffer, **net.params)
    real = buffer.getvalue()
    data = [blob, real[:200] + blob, real[: len(real) - len(blob)] + blob][mode]
    path = tmp_path / "fuzz.npz"
    path.write_bytes(data)
    try:
        build_network(SMALL).load_params(path)
    except WeightsError:
        pass
