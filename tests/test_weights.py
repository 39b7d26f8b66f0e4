"""Weight files: exact round trip, and every bad file refused with a WeightsError."""

import io
import pickle
import tracemalloc
import zipfile
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import pytest
from conftest import TINY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glaucoma_lib.models.disc_model import DiscCnnModel, TextureModel
from glaucoma_lib.models.features import FEATURE_NAMES
from glaucoma_lib.models.image_model import ImageCnnModel, ImageRecipe
from glaucoma_lib.models.kinds import load_model
from glaucoma_lib.models.linear import LinearScorer
from glaucoma_lib.nn.network import (
    CONFIG_KEY,
    META_KEY,
    NetworkConfig,
    build_network,
    load_network,
)
from glaucoma_lib.nn.weight_files import (
    WeightsError,
    json_entry,
    read_json_entry,
    read_npz,
    save_npz,
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


# ---------------------------------------------------------------------------- model files


def texture_file(tmp_path):
    config = replace(TINY, scorer="texture")
    kernels, dilations = config.texture().kernels()
    n = 3 * config.texture_kernels
    scorer = LinearScorer(np.zeros(n), np.ones(n), np.full(n, 0.01), 0.1)
    return TextureModel(config, kernels, dilations, scorer, 0.5).save(tmp_path / "tex.npz")


def cnn_file(tmp_path):
    def scorer(n):
        return LinearScorer(np.zeros(n), np.ones(n), np.full(n, 0.01), 0.0)

    model = DiscCnnModel(TINY, build_network(TINY.network_config(2.0, 0)), 0.5, {},
                         scorer(len(FEATURE_NAMES)), scorer(3 * TINY.texture_kernels), scorer(3))
    return model.save(tmp_path / "cnn.npz")


def rewrite(source, target, key, dotted, value):
    """Copy of a model file with one JSON field (dotted path) of entry ``key`` replaced."""
    arrays = read_npz(source)
    entry = read_json_entry(source, key)
    node = entry
    *parents, leaf = dotted.split(".")
    for name in parents:
        node = node[name]
    node[leaf] = value
    arrays[key] = json_entry(entry)
    return save_npz(target, arrays)


CONFIG_FIELDS = [f"config.{f}" for f in TINY.to_dict() if f != "augmenter"] + [
    f"config.augmenter.{f}" for f in asdict(TINY.augmenter)]
SCORER_FIELDS = ["mean", "scale", "coef", "intercept"]
TEXTURE_FIELDS = [(META_KEY, f) for f in ["threshold", "metadata", *CONFIG_FIELDS]] + [
    (META_KEY, f"scorer.{f}") for f in SCORER_FIELDS]
CNN_FIELDS = [(META_KEY, f"{s}.{f}") for s in ("feature_scorer", "texture_scorer", "stacker")
              for f in SCORER_FIELDS] + [
    (CONFIG_KEY, f) for f in asdict(TINY.network_config(2.0, 0))]
ALL_FIELDS = [("tex", *f) for f in TEXTURE_FIELDS] + [("cnn", *f) for f in CNN_FIELDS]


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {"tex": texture_file(folder), "cnn": cnn_file(folder)}


@pytest.mark.parametrize(("kind", "key", "dotted"), ALL_FIELDS)
def test_every_field_is_checked_and_named(model_files, tmp_path, kind, key, dotted):
    bad = rewrite(model_files[kind], tmp_path / "bad.npz", key, dotted, "nonsense")
    with pytest.raises(WeightsError) as info:
        load_model(bad)
    message = str(info.value)
    assert str(bad) in message and dotted.split(".")[-1] in message and "\n" not in message


HOSTILE = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4),
                    st.lists(st.integers(-3, 6000), max_size=8),
                    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(ALL_FIELDS), HOSTILE)
def test_fuzz_each_field_refused_in_one_line_or_usable(model_files, tmp_path, field, value):
    kind, key, dotted = field
    path = rewrite(model_files[kind], tmp_path / "fuzz.npz", key, dotted, value)
    try:
        model = load_model(path)
    except WeightsError as error:
        assert str(path) in str(error) and "\n" not in str(error)
        return
    x = np.random.default_rng(0).random((2, 3, model.config.input_size,
                                         model.config.input_size), dtype=np.float32)
    locations = pd.DataFrame({"radius": [30.0, 20.0], "confidence": [0.9, 0.5]})
    p = model.predict_proba(x, locations)
    assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()


def test_huge_architecture_is_refused_before_allocating(model_files, tmp_path):
    wide = [8, 8, 16, 16, 5000, 5000]
    path = rewrite(model_files["cnn"], tmp_path / "wide.npz", META_KEY, "config.channels", wide)
    path = rewrite(path, tmp_path / "wide2.npz", CONFIG_KEY, "channels", wide)
    tracemalloc.start()
    try:
        with pytest.raises(WeightsError, match="channels.*5000|parameters"):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20
    with pytest.raises(WeightsError, match="wide2.npz.*channels.4. must be an integer"):
        load_network(path)


def test_entries_are_checked_from_their_headers(tmp_path, model_files):
    huge = tmp_path / "huge.npz"
    with zipfile.ZipFile(huge, "w") as zf, zf.open("kernels.npy", "w") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f4", "fortran_order": False, "shape": (100_000, 100_000)})
    with pytest.raises(WeightsError, match="huge.npz.*kernels.*above the limit"):
        read_npz(huge)
    text = tmp_path / "text.npz"
    with zipfile.ZipFile(text, "w") as zf, zf.open("kernels.npy", "w") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<U4", "fortran_order": False, "shape": (2,)})
    with pytest.raises(WeightsError, match="not a plain number"):
        read_npz(text)
    arrays = read_npz(model_files["tex"])
    arrays[META_KEY] = np.zeros(2**20 + 1, np.uint8)
    with pytest.raises(WeightsError, match="__meta__.*above the limit of 1,048,576"):
        load_model(save_npz(tmp_path / "bigjson.npz", arrays))


def test_kernels_must_match_the_configuration(model_files, tmp_path):
    path = rewrite(model_files["tex"], tmp_path / "k.npz", META_KEY, "config.texture_kernels", 11)
    with pytest.raises(WeightsError, match="kernels.*expected"):
        load_model(path)
    path = rewrite(model_files["tex"], tmp_path / "t.npz", META_KEY, "threshold", 1.0)
    with pytest.raises(WeightsError, match="threshold"):
        load_model(path)


def test_parameter_count_is_limited_from_the_shapes_alone():
    with pytest.raises(ValueError, match="parameters, above the limit"):
        NetworkConfig(input_dim=(3, 256, 256), channels=(1024,) * 6, pads=(1,) * 6)
    assert SMALL.parameter_count() == sum(v.size for v in build_network(SMALL).params.values())


@pytest.mark.parametrize("dtype", ["complex64", "S8", "M8[s]", "V8"])
def test_entries_of_eight_byte_non_numbers_are_refused(tmp_path, dtype):
    """Small arrays whose items are 8 bytes: only the dtype-kind check refuses them."""
    path = save_npz(tmp_path / "odd.npz", {"kernels": np.zeros(3, dtype)})
    with pytest.raises(WeightsError, match=r"odd.npz: entry 'kernels' has dtype .*not a plain"):
        read_npz(path)


# ---------------------------------------------------------------------------- round three


def image_cnn_file(tmp_path):
    recipe = ImageRecipe(image_size=16)
    model = ImageCnnModel(recipe, build_network(recipe.network_config(0)),
                          np.full(3, 0.4, np.float32), np.full(3, 0.2, np.float32), 0.5)
    return model.save(tmp_path / "image.npz")


def with_array(source, target, key, change):
    arrays = read_npz(source)
    change(arrays[key])
    return save_npz(target, arrays)


@pytest.mark.parametrize(("kind", "key", "value"), [
    ("tex", "kernels", 1e38), ("cnn", "W1", 1e38), ("cnn", "running_var2", -1.0),
    ("image", "W1", 1e38), ("image", "gamma1", 2e4)])
def test_finite_but_absurd_values_are_refused_by_name(model_files, tmp_path, kind, key, value):
    source = image_cnn_file(tmp_path) if kind == "image" else model_files[kind]
    bad = with_array(source, tmp_path / "bad.npz", key, lambda a: a.flat.__setitem__(0, value))
    with pytest.raises(WeightsError, match=f"bad.npz.*{key}") as info:
        load_model(bad)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("dotted", "value"), [
    ("threshold", float("nan")), ("threshold", 2), ("threshold", -1), ("mean", [float("nan")] * 3),
    ("std", [1e-45] * 3), ("recipe.image_size", 0), ("recipe.image_size", "64"),
    ("recipe.image_size", 20000), ("recipe.image_size", 32), ("recipe.flips", "yes"),
    ("recipe.colour", 1), ("metadata", None)])
def test_image_cnn_header_is_checked_like_the_other_kinds(tmp_path, dotted, value):
    bad = rewrite(image_cnn_file(tmp_path), tmp_path / "bad.npz", META_KEY, dotted, value)
    with pytest.raises(WeightsError) as info:
        load_model(bad)
    message = str(info.value)
    assert str(bad) in message and dotted.split(".")[-1] in message and "\n" not in message
    assert isinstance(load_model(image_cnn_file(tmp_path)), ImageCnnModel)


def test_work_per_image_is_refused_before_anything_is_allocated(model_files, tmp_path):
    many = rewrite(model_files["tex"], tmp_path / "many.npz", META_KEY, "config.texture_kernels",
                   10000)
    many = rewrite(many, tmp_path / "many2.npz", META_KEY, "config.input_size", 256)
    wide = [1024, 1024]
    cnn = rewrite(model_files["cnn"], tmp_path / "w.npz", META_KEY, "config.channels", wide)
    for n, (key, dotted, value) in enumerate([
            (META_KEY, "config.input_size", 128), (META_KEY, "config.hidden_size", 1),
            (CONFIG_KEY, "channels", wide), (CONFIG_KEY, "pads", [1, 1]),
            (CONFIG_KEY, "input_dim", [3, 128, 128]), (CONFIG_KEY, "hidden_size", 1)]):
        cnn = rewrite(cnn, tmp_path / f"w{n}.npz", key, dotted, value)
    tracemalloc.start()
    try:
        for path in (many, cnn):
            with pytest.raises(WeightsError, match=f"{path.name}.*per image, above the limits"):
                load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20


def raw_header(source, target, text: str):
    arrays = read_npz(source)
    arrays[META_KEY] = np.frombuffer(text.encode(), np.uint8)
    return save_npz(target, arrays)


@pytest.mark.parametrize("text", [
    '{"kind": ["texture"], "format_version": 2}',
    '{"kind": "texture", "format_version": [2]}',
    '{"kind": "texture", "format_version": 2, "metadata": ' + "[" * 50000 + "]" * 50000 + "}",
    '{"kind": "texture", "format_version": 2, "threshold": 1' + "0" * 5000 + "}"])
def test_header_of_the_wrong_shape_is_one_weights_error(model_files, tmp_path, text):
    bad = raw_header(model_files["tex"], tmp_path / "bad.npz", text)
    with pytest.raises(WeightsError) as info:
        load_model(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(("text", "depth"), [
    ("[" * 50000 + "]" * 50000, 50000),
    ('{"a": "' + "[" * 40 + '\\" ", "b": ' + "{\"c\": " * 3000 + "1" + "}" * 3000 + "}", 3001)])
def test_read_json_entry_refuses_deep_nesting_itself(tmp_path, text, depth):
    """Called directly (not through load_model), a deeply nested entry is one WeightsError
    naming the file and the entry, never a RecursionError; brackets inside strings do not
    count."""
    path = save_npz(tmp_path / "deep.npz", {"meta": np.frombuffer(text.encode(), np.uint8)})
    with pytest.raises(WeightsError, match=rf"deep.npz: entry 'meta' nests {depth} deep, above "
                                           r"the limit of 32"):
        read_json_entry(path, "meta")
