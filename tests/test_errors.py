"""One exception root: every error MitraSETI raises on purpose is a MitraSETIError with
structured fields, keeps its built-in base, and survives pickling (multiprocessing)."""
import pickle

import pytest

from mitraseti.cli import CommandUnavailable
from mitraseti.console import CliError
from mitraseti.client import JobTimeout, MitraSETIAPIError
from mitraseti.errors import InputError, MitraSETIError, ParameterError
from mitraseti.io import ObservationFormatError
from mitraseti.io.errors import ObservationNotFoundError
from mitraseti.search import SearchParams
from mitraseti.signals import CadenceError, ModelLoadError, RfiBandError, run_cadence
from mitraseti.signals.rfi import read_band_file

CASES = [
    (ParameterError(parameter="snr", expected="> 0", got=-1), ValueError, True,
     {"parameter": "snr", "expected": "> 0", "got": -1}),
    (ObservationFormatError("a.fil", "truncated header"), ValueError, True,
     {"path": "a.fil", "problem": "truncated header"}),
    (ObservationNotFoundError("b.h5", "does not exist"), FileNotFoundError, True,
     {"path": "b.h5", "problem": "does not exist"}),
    (CadenceError("odd count", file="c.fil"), ValueError, True, {"file": "c.fil"}),
    (RfiBandError("bad band", source="x.toml band #2"), ValueError, True,
     {"source": "x.toml band #2"}),
    (CliError("no such file"), Exception, True, {}),
    (ModelLoadError("checksum", path="m.npz"), RuntimeError, False, {"path": "m.npz"}),
    (CommandUnavailable("serve", "cannot import tornado"), Exception, False,
     {"command": "serve", "problem": "cannot import tornado"}),
    (MitraSETIAPIError(404, "no such job", {"error": "no such job"}), Exception, False,
     {"status": 404, "error": "no such job", "body": {"error": "no such job"}}),
    (JobTimeout("j1", 2.0, {"status": "running"}), TimeoutError, False,
     {"job_id": "j1", "timeout": 2.0, "job": {"status": "running"}}),
]


@pytest.mark.parametrize("exc, builtin, is_input, fields", CASES,
                         ids=[type(c[0]).__name__ for c in CASES])
def test_every_error_has_the_root_its_fields_and_pickles(exc, builtin, is_input, fields):
    assert isinstance(exc, MitraSETIError) and isinstance(exc, builtin)
    assert isinstance(exc, InputError) is is_input
    assert exc.fields == fields
    assert all(getattr(exc, k) == v for k, v in fields.items())
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc) and str(back) == str(exc) and back.fields == fields


def test_parameter_error_message_from_fields():
    err = ParameterError(parameter="max_drift", expected="> 0 Hz/s", got=0.0)
    assert str(err) == "max_drift must be > 0 Hz/s, got 0.0"
    assert str(ParameterError(parameter="name", expected="text", got=3j)) == \
        "name must be text, got 3j"
    assert ParameterError(parameter="k", expected="x", got=[1]).to_dict() == {
        "error": "ParameterError", "message": "k must be x, got [1]", "parameter": "k",
        "expected": "x", "got": "[1]"}
    with pytest.raises(TypeError):
        ParameterError()


@pytest.mark.parametrize("kwargs, name", [({"max_drift": 0}, "max_drift"),
                                          ({"min_drift": 5.0}, "min_drift"),
                                          ({"snr": float("inf")}, "snr"),
                                          ({"n_coarse_chan": 0}, "n_coarse_chan"),
                                          ({"blank_dc": 1}, "blank_dc")])
def test_search_params_name_the_parameter(kwargs, name):
    with pytest.raises(ParameterError) as info:
        SearchParams(**kwargs)
    assert info.value.parameter == name and str(info.value).startswith(name)
    assert info.value.got == kwargs[name]


def test_raised_errors_carry_their_fields(tmp_path):
    with pytest.raises(ParameterError) as info:
        run_cadence([], filter_level=4)
    assert (info.value.parameter, info.value.got) == ("filter_level", 4)
    missing = tmp_path / "missing.fil"
    with pytest.raises(CadenceError) as info:
        run_cadence([missing, missing])
    assert info.value.file == str(missing)
    bad = tmp_path / "bands.toml"
    bad.write_text('[[band]]\nname = "x"\nkind = "alien"\nlow_mhz = 1\nhigh_mhz = 2\n')
    with pytest.raises(RfiBandError) as info:
        read_band_file(bad)
    assert info.value.source == f"{bad} band #1"
