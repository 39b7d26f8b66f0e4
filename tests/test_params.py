"""check_params rejects wrong types and ranges with a message naming every bad parameter."""

import pytest

from glaucoma_lib.report.params import ParameterError, check_params


def test_good_parameters_pass():
    check_params(
        image_size=(64, int, 16, 512),
        lr=(0.001, float, 0, 1),
        lr_as_int=(1, float, 0, 1),
        data_dir=(None, (str, None)),
        name=("x", (str, None)),
        quick=(False, bool),
        optimizer=("Adam", str, {"SGD", "Adam"}),
        open_top=(10**6, int, 1, None),
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ((64.0, int, 16, 512), "image_size=64.0 has type float; expected int"),
        (("64", int, 16, 512), "image_size='64' has type str; expected int"),
        ((True, int, 16, 512), "has type bool; expected int"),
        ((8, int, 16, 512), "image_size=8 is out of range: must be between 16 and 512"),
        ((1024, int, 16, 512), "out of range"),
        ((None, int, 16, 512), "has type NoneType; expected int"),
    ],
)
def test_bad_parameter_is_named(spec, message):
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_params(image_size=spec)


def test_choices_and_every_problem_listed():
    with pytest.raises(ParameterError) as err:
        check_params(
            optimizer=("adam", str, {"SGD", "Adam"}),
            lr=(2.0, float, 0, 1),
            epochs=(20, int, 1, 500),
        )
    text = str(err.value)
    assert "optimizer='adam' is not one of 'Adam', 'SGD'" in text
    assert "lr=2.0 is out of range" in text
    assert "epochs" not in text


def test_parameter_error_is_a_value_error():
    assert issubclass(ParameterError, ValueError)


def test_malformed_spec_is_a_programming_error():
    with pytest.raises(TypeError, match="needs"):
        check_params(epochs=20)
