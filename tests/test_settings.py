"""settings.py: option parsing, per-backend tolerance tables, precedence and replay flags."""

from __future__ import annotations

import argparse
import math

import pytest
from hypothesis import given

from pytest_repro import settings as st
from pytest_repro.settings import Settings, Tolerance
from pytest_repro.strategies import seeds, tolerances

# ---- validators: one per kind of value, shared by the command line, ini, the marker and check() ----


@pytest.mark.parametrize(("text", "value"), [("0", 0.0), ("1e-3", 1e-3), ("2.5", 2.5), ("inf", math.inf)])
def test_number_accepts(text, value):
    assert st.number(text) == value


@pytest.mark.parametrize(("text", "message"), [
    ("-1e-3", "non-negative"), ("nan", "non-negative"), ("NaN", "non-negative"),
    ("abc", "expected a number"), ("", "expected a number"),
])
def test_number_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        st.number(text)


@given(seeds())
def test_seed_accepts_every_strategy_seed(seed):
    assert st.seed(str(seed)) == seed


@pytest.mark.parametrize("text", ["0", "42", str(2**32 - 1)])
def test_seed_accepts(text):
    assert st.seed(text) == int(text)


@pytest.mark.parametrize(("text", "message"), [
    ("-1", r"\[0, 2\*\*32\)"), (str(2**32), r"\[0, 2\*\*32\)"), ("1.5", "integer seed"), ("seed", "integer seed"),
])
def test_seed_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        st.seed(text)


def test_positive_int():
    assert st.positive_int("4096") == 4096
    for bad in ("0", "-3"):
        with pytest.raises(ValueError, match="positive"):
            st.positive_int(bad)
    with pytest.raises(ValueError, match="whole number"):
        st.positive_int("1.5")


@pytest.mark.parametrize(("text", "value"), [
    ("1", True), ("TRUE", True), (" yes ", True), ("on", True),
    ("0", False), ("false", False), ("No", False), ("off", False),
])
def test_boolean(text, value):
    assert st.boolean(text) is value


def test_boolean_rejects():
    with pytest.raises(ValueError, match="'maybe'"):
        st.boolean("maybe")


# ---- backend words ----


@pytest.mark.parametrize(("text", "value"), [
    ("cpu", ("cpu",)),
    ("cuda,cpu", ("cuda", "cpu")),
    (" cuda , cpu ,cuda,", ("cuda", "cpu")),  # order kept, repeats and blanks dropped
    ("auto", ("auto",)),
    ("mindspore-cpu,torch-ascend", ("mindspore-cpu", "torch-ascend")),
])
def test_backend_words_accepts(text, value):
    assert st.backend_words(text) == value


@pytest.mark.parametrize("text", ["", " ", ",", " , ,"])
def test_backend_words_rejects_empty(text):
    with pytest.raises(ValueError, match="expected a backend name"):
        st.backend_words(text)


@pytest.mark.parametrize("text", ["gpu", "cpu,gpu", "CPU", "Jax-CPU", "a-b-c!"])
def test_backend_words_rejects_unknown_naming_it(text):
    bad = [name for name in text.split(",") if name not in ("cpu",)][0]
    with pytest.raises(ValueError, match=f"unknown backend '{bad}'.*mindspore-cpu"):
        st.backend_words(text)


def test_backend_words_come_from_the_registry():
    from pytest_repro.backends import registry

    for key in registry():
        assert st.backend_words(key) == (key,)
        assert st.backend_words(key.device) == (key.device,)


@pytest.mark.parametrize("value", [True, 1.5, "x", -1])
def test_every_source_gets_the_same_seed_rule(value):
    # The option, the ini key and repro_generator(seed=...) share this one validator.
    with pytest.raises(ValueError, match="seed"):
        st.seed(value)


def test_argtype_turns_a_validator_into_an_argparse_type():
    parse = st.argtype(st.number, "atol")
    assert parse("0.5") == 0.5
    with pytest.raises(argparse.ArgumentTypeError, match="non-negative"):
        parse("-1")


# ---- tolerance kwargs and per-backend tables ----


@given(tolerances())
def test_strategy_tolerances_are_valid_and_merge(kwargs):
    assert st.tolerance_overrides(kwargs, "here") == kwargs
    merged = Tolerance().merged(**kwargs)
    for key, value in kwargs.items():
        assert getattr(merged, key) == value


@pytest.mark.parametrize(("values", "message"), [
    ({"atl": 1}, "here: unknown tolerance 'atl'; known: atol"),
    ({"atol": -1}, "here: atol: expected a non-negative number"),
    ({"rtol": math.nan}, "here: rtol: expected a non-negative number"),
    ({"cosine": "tiny"}, "here: cosine: expected a number"),
    ({"bitwise": 1}, "here: bitwise must be True or False"),
])
def test_tolerance_overrides_rejects(values, message):
    with pytest.raises(ValueError, match=message):
        st.tolerance_overrides(values, "here")


def test_tolerance_overrides_converts_text_and_keeps_none():
    assert st.tolerance_overrides({"atol": "2e-2", "max_linf": None}, "x") == {"atol": 0.02, "max_linf": None}


def test_backend_tolerances_parses_lines():
    table = st.backend_tolerances([
        "# comment", "", "cuda: atol=2e-2 cosine=1e-4",
        "mindspore-ascend: max_linf=none bitwise=false rtol=0.1",
    ], "ini")
    assert table == {
        "cuda": {"atol": 0.02, "cosine": 1e-4},
        "mindspore-ascend": {"max_linf": None, "bitwise": False, "rtol": 0.1},
    }


@pytest.mark.parametrize(("line", "message"), [
    ("gpu: atol=1", "unknown backend 'gpu'"),
    ("atol=1", "expected 'BACKEND: key=value ...'"),
    ("cuda atol=1", "expected 'BACKEND: key=value ...'"),
    ("cuda: atol", "expected key=value in"),
    ("cuda: tol=1", r"\(cuda\): unknown tolerance 'tol'"),
    ("cuda: atol=-2", r"\(cuda\): atol: expected a non-negative number"),
    ("cuda: bitwise=maybe", r"\(cuda\): .*bitwise"),
])
def test_backend_tolerances_errors_name_where(line, message):
    # ValueError is what plugin.py turns into a UsageError; anything else is an internal error.
    with pytest.raises(ValueError, match=r"^repro_backend_tolerances in tox\.ini.*" + message):
        st.backend_tolerances([line], "repro_backend_tolerances in tox.ini")


# ---- Settings ----


def test_tolerance_for_precedence():
    settings = Settings(
        per_backend={
            "cuda": {"atol": 0.1, "rtol": 0.1, "max_linf": 0.1, "cosine": 0.1},
            "torch-cuda": {"rtol": 0.2, "max_linf": 0.2, "cosine": 0.2},
        },
        cli_tolerance={"max_linf": 0.3, "cosine": 0.3},
    )
    marker = {"cosine": 0.4, "backends": ["cuda"], "framework": "torch"}  # non-tolerance keys ignored
    assert settings.tolerance_for("torch-cuda", marker) == Tolerance(atol=0.1, rtol=0.2, max_linf=0.3, cosine=0.4)
    # The device name applies to every framework on it; the framework-device key only to its own.
    assert settings.tolerance_for("mindspore-cuda", {}) == Tolerance(atol=0.1, rtol=0.1, max_linf=0.3, cosine=0.3)
    assert settings.tolerance_for("torch-cpu", {}) == Tolerance(max_linf=0.3, cosine=0.3)


def test_command_line_per_backend_beats_command_line_general_and_ini():
    settings = Settings(
        per_backend={"cuda": {"atol": 0.1, "cosine": 0.1}},
        cli_tolerance={"atol": 0.2},
        cli_backend_tolerances={"cuda": {"atol": 0.3}},
    )
    assert settings.tolerance_for("torch-cuda", {}) == Tolerance(atol=0.3, cosine=0.1)
    assert settings.tolerance_for("torch-cpu", {}) == Tolerance(atol=0.2)


@pytest.mark.parametrize("marker", [{"max_linf": None}, {"max_linf": 0.5}])
def test_command_line_max_linf_is_a_ceiling_no_marker_can_raise(marker):
    settings = Settings(cli_tolerance={"max_linf": 0.01})
    assert settings.tolerance_for("torch-cpu", marker).max_linf == 0.01
    assert settings.tolerance_for("torch-cpu", {"max_linf": 0.001}).max_linf == 0.001  # tighter is fine


def test_backend_tolerance_lines_for_one_backend_merge():
    table = st.backend_tolerances(["cuda: atol=0.1", "cuda: cosine=1e-4"], "ini")
    assert table == {"cuda": {"atol": 0.1, "cosine": 1e-4}}


@pytest.mark.parametrize("key", ["atol", "rtol"])
def test_only_optional_limits_can_be_none(key):
    with pytest.raises(ValueError, match=f"{key} can't be None"):
        st.tolerance_overrides({key: None}, "here")
    assert st.tolerance_overrides({"max_linf": None, "cosine": None}, "here") == {"max_linf": None, "cosine": None}


def test_tolerance_for_defaults_and_base():
    assert Settings().tolerance_for("torch-cpu", {}) == Tolerance(atol=st.DEFAULT_ATOL, cosine=st.DEFAULT_COSINE)
    settings = Settings(base_tolerance=Tolerance(atol=0.5), per_backend={"cpu": {"rtol": 0.01}})
    assert settings.tolerance_for("torch-cpu", {"bitwise": False}) == Tolerance(atol=0.5, rtol=0.01, bitwise=False)


def test_replay_flags_default():
    assert Settings().replay_flags() == "--repro-backend=cpu --repro-seed=0 --repro-deterministic"


def test_replay_flags_parse_back_to_the_same_settings():
    settings = Settings(backends=("cuda", "mindspore-cpu"), seed=1234, deterministic=False,
                        cli_tolerance={"max_linf": 0.25, "atol": 1e-05, "cosine": 3e-7})
    parser = argparse.ArgumentParser()
    parser.add_argument("--repro-backend", type=st.argtype(st.backend_words, "backend"))
    parser.add_argument("--repro-seed", type=st.argtype(st.seed, "seed"))
    parser.add_argument("--repro-deterministic", action="store_true", default=None)
    parser.add_argument("--repro-no-deterministic", dest="repro_deterministic", action="store_false")
    for name in ("atol", "rtol", "max-linf", "cosine"):
        parser.add_argument(f"--repro-{name}", type=st.argtype(st.number, name))
    args = parser.parse_args(settings.replay_flags().split())
    assert args.repro_backend == settings.backends
    assert args.repro_seed == 1234
    assert args.repro_deterministic is False
    assert (args.repro_atol, args.repro_max_linf, args.repro_cosine) == (1e-05, 0.25, 3e-7)
    assert args.repro_rtol is None
