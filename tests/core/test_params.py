import param
import pytest

from paperscope.core.errors import ParamError
from paperscope.core.params import LabParams, apply_strings, coerce, describe_range


class Toy(LabParams):
    width = param.Integer(16, bounds=(1, 64), softbounds=(4, 32), doc="units")
    lr = param.Number(0.1, bounds=(0, 1), inclusive_bounds=(False, True), doc="step size")
    mode = param.Selector(default="a", objects=["a", "b"], doc="mode")
    flag = param.Boolean(False, doc="flag")
    ridge = param.Selector(default=1e-4, objects=[1e-8, 1e-4, 1e-2], doc="a numeric choice")
    QUICK = {"width": 4}


def test_coerce_types():
    assert coerce(Toy, "width", "12") == 12
    assert coerce(Toy, "lr", "0.5") == 0.5
    assert coerce(Toy, "mode", "b") == "b"
    assert coerce(Toy, "flag", "yes") is True and coerce(Toy, "flag", "0") is False
    # numeric choices match as numbers, however they are written
    assert coerce(Toy, "ridge", "1e-4") == 1e-4 and coerce(Toy, "ridge", "0.01") == 1e-2
    with pytest.raises(ParamError, match="one of"):
        coerce(Toy, "ridge", "1e-3")


@pytest.mark.parametrize("name,text,needle", [
    ("width", "100", "from 1 to 64"),
    ("width", "1.5", "expected an integer"),
    ("lr", "0", "out of range"),
    ("mode", "c", "one of a, b"),
    ("flag", "maybe", "true or false"),
    ("depth", "3", "unknown parameter 'depth'"),
])
def test_coerce_rejects_with_allowed_range(name, text, needle):
    with pytest.raises(ParamError, match=needle):
        coerce(Toy, name, text)


def test_presets_and_names():
    assert Toy.preset("quick").width == 4 and Toy.preset().width == 16
    assert Toy.preset("quick", width=8).width == 8
    assert Toy.names()[-2:] == ["seed", "device"] and "name" not in Toy.names()
    with pytest.raises(ParamError, match="'quick', 'default'"):
        Toy.preset("large")  # Toy declares no large preset


def test_a_declared_large_preset_is_offered():
    class Big(Toy):
        LARGE = {"width": 64, "device": "cuda"}

    assert list(Big.presets()) == ["quick", "default", "large"] and list(Toy.presets()) == ["quick", "default"]
    assert Big.preset("large").width == 64 and Big.preset("large", width=32).width == 32


def test_apply_strings_checks_all_before_setting():
    p = Toy()
    with pytest.raises(ParamError):
        apply_strings(p, {"width": "8", "lr": "-1"})
    assert p.width == 16  # nothing half-applied
    apply_strings(p, {"width": "8", "seed": "3"})
    assert (p.width, p.seed) == (8, 3)
    assert p.values()["width"] == 8


def test_describe_range():
    assert describe_range(Toy.param.width) == "an integer from 1 to 64"


def test_log_stops_cover_the_soft_range_per_decade():
    class Weighted(LabParams):
        lam = param.Number(0.3, bounds=(0, 100), softbounds=(0.01, 3), doc="a weight")
        kappa = param.Number(200.0, bounds=(1, 5000), softbounds=(25, 1000), doc="sharpness")

    from paperscope.core.params import log_stops

    assert log_stops(Weighted.param.lam) == [0.0, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0]
    stops = log_stops(Weighted.param.kappa, 123.0)  # no 0 (out of bounds); a value becomes a stop
    assert stops[0] == 25 and stops[-1] == 1000 and 123.0 in stops and 0.0 not in stops
