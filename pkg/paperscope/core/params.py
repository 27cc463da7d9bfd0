"""The parameter base every lab declares its hyperparameters on.

A lab's ``Params`` class is the single declaration from which Panel widgets, notebook controls,
CLI ``--set`` flags, URL state and the figure sidecar are all built. Values typed by people
(CLI, URL) go through :func:`coerce`, which answers bad input with a one-line ``ParamError``
that names the allowed range.
"""

import math
import os
from typing import ClassVar

import param

from .errors import ParamError

CAP_MULTIPLE = 2.0  # a workshop participant may run up to this many times a lab's paper size
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


class LabParams(param.Parameterized):
    """Shared parameters; a lab subclasses this and adds its own, each with bounds and ``doc=``.

    ``QUICK`` holds the small sizes used by tests, notebooks in CI and the app's first paint;
    ``LARGE`` (optional) the spec's GPU scale-up, meant for ``device=cuda``.
    """

    # precedence > 0 puts the shared knobs after the lab's own in generated widgets
    seed = param.Integer(0, bounds=(0, 2**31 - 1), precedence=1, doc="Seed of every random generator in the run")
    device = param.Selector(
        default="auto", objects=["auto", "cpu", "cuda", "mps"], precedence=1,
        doc="Where tensors live: auto picks cuda > mps > cpu (PAPERSCOPE_DEVICE overrides auto)",
    )

    QUICK: ClassVar[dict] = {}
    LARGE: ClassVar[dict] = {}
    # Workshop caps over the ones ``caps`` derives (name -> largest value a participant may run)
    CAPS: ClassVar[dict] = {}
    # Number parameters whose sliders move on a log scale (their soft range, plus 0 when 0 is
    # allowed): weights like λ or β that matter per decade.
    LOG_SCALE: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def presets(cls) -> dict[str, dict]:
        """Each preset's values over the defaults: ``quick``, ``default`` and, when the lab
        declares one, ``large``."""
        return {"quick": dict(cls.QUICK), "default": {}, **({"large": dict(cls.LARGE)} if cls.LARGE else {})}

    @classmethod
    def preset(cls, name: str = "default", **overrides):
        """A new instance at the declared defaults (``default``), the ``quick`` sizes or the
        ``large`` ones."""
        presets = cls.presets()
        if name not in presets:
            raise ParamError(f"unknown preset {name!r}: choose one of {', '.join(map(repr, presets))}")
        return cls(**{**presets[name], **overrides})

    @classmethod
    def caps(cls, multiple: float = CAP_MULTIPLE, overrides: dict | None = None) -> dict:
        """The largest value of each size parameter a workshop participant may run: ``multiple``
        times its paper-size default for every number parameter a preset sets (the sizes that
        make a run long), then the lab's ``CAPS`` and ``overrides``. A cap at or above the
        parameter's own upper bound is left out (the bound already says it)."""
        sized = {name for values in cls.presets().values() for name in values}
        caps = {}
        for name in sorted(sized):
            p = cls.param[name]
            if isinstance(p, param.Number) and not isinstance(p, param.Boolean) and p.default:
                cap = p.default * multiple
                caps[name] = int(cap) if isinstance(p, param.Integer) else float(cap)
        caps.update(cls.CAPS)
        caps.update(overrides or {})
        high = {name: (cls.param[name].bounds or (None, None))[1] for name in caps}
        return {name: cap for name, cap in caps.items() if high[name] is None or cap < high[name]}

    @classmethod
    def names(cls) -> list[str]:
        """The user-facing parameter names, in declaration order (shared ones last)."""
        own = [n for n in cls.param if n != "name"]
        shared = [n for n in ("seed", "device") if n in own]
        return [n for n in own if n not in shared] + shared

    def values(self) -> dict:
        """Current values as plain JSON-safe Python objects."""
        return {n: _plain(getattr(self, n)) for n in self.names()}


def log_stops(p: param.Number, value=None) -> list:
    """Slider stops for a log-scale parameter: 1, 2, 3, 5 times each power of ten over its soft
    range (both ends included), 0 first when its bounds allow 0, and ``value`` wherever it lies."""
    lo, hi = p.get_soft_bounds()
    if lo is None or hi is None or hi <= 0:
        raise ValueError(f"{p.name}: a log-scale slider needs a positive soft range, got {lo}..{hi}")
    lo = lo if lo > 0 else hi * 1e-3
    stops = {float(lo), float(hi)}
    for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        stops |= {float(f"{m * 10.0 ** k:.3g}") for m in (1, 2, 3, 5)}
    stops = {v for v in stops if lo * 0.999 <= v <= hi * 1.001}
    low, high = p.bounds or (None, None)
    if low is not None and low <= 0 and (high is None or high >= 0):
        stops.add(0.0)
    if value is not None:
        stops.add(float(value))
    return sorted(stops)


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value


def describe_range(p: param.Parameter) -> str:
    """How a person would say what a parameter accepts, e.g. 'an integer from 1 to 8'."""
    if hasattr(p, "describe"):  # a parameter with its own rule (core.data.DataChoice)
        return p.describe()
    if isinstance(p, param.Boolean):
        return "true or false"
    if isinstance(p, param.Selector):
        return "one of " + ", ".join(str(o) for o in p.objects)
    if isinstance(p, param.Number):
        kind = "an integer" if isinstance(p, param.Integer) else "a number"
        lo, hi = p.bounds or (None, None)
        if lo is None and hi is None:
            return kind
        if hi is None:
            return f"{kind} >= {lo}"
        if lo is None:
            return f"{kind} <= {hi}"
        return f"{kind} from {lo} to {hi}"
    if isinstance(p, param.List):
        return "a comma-separated list"
    return "a string"


def coerce(cls: type[LabParams], name: str, text: str):
    """Turn the text a person typed for ``name`` into a checked value, or raise ``ParamError``."""
    if name not in cls.names():
        raise ParamError(f"unknown parameter {name!r}; known: {', '.join(cls.names())}")
    p = cls.param[name]
    allowed = describe_range(p)
    text = str(text).strip()
    try:
        if isinstance(p, param.Boolean):
            low = text.lower()
            if low not in TRUE_WORDS | FALSE_WORDS:
                raise ValueError
            value = low in TRUE_WORDS
        elif isinstance(p, param.Selector):
            matches = [o for o in p.objects if str(o) == text] or _numeric_matches(p.objects, text)
            if not matches:
                raise ValueError
            value = matches[0]
        elif isinstance(p, param.Integer):
            value = int(text)
        elif isinstance(p, param.Number):
            value = float(text)
        elif isinstance(p, param.List):
            item = p.item_type or str
            value = [item(v) for v in text.split(",") if v.strip()]
        else:
            value = text
    except ValueError:
        raise ParamError(f"{name}={text!r} is not valid: expected {allowed}") from None
    check_value(cls, name, value)
    return value


def _numeric_matches(objects, text: str) -> list:
    """Numeric choices equal to ``text`` read as a number (``1e-4`` picks ``0.0001``)."""
    try:
        number = float(text)
    except ValueError:
        return []
    return [o for o in objects if isinstance(o, (int, float)) and not isinstance(o, bool) and o == number]


def check_value(cls: type[LabParams], name: str, value) -> None:
    """Raise ``ParamError`` if ``value`` is outside ``name``'s declared bounds."""
    p = cls.param[name]
    if hasattr(p, "check_value"):  # a parameter with its own rule (core.data.DataChoice)
        p.check_value(name, value)
    if isinstance(p, param.Number) and p.bounds is not None:
        lo, hi = p.bounds
        inc_lo, inc_hi = p.inclusive_bounds
        below = lo is not None and (value < lo if inc_lo else value <= lo)
        above = hi is not None and (value > hi if inc_hi else value >= hi)
        if below or above:
            raise ParamError(f"{name}={value} is out of range: expected {describe_range(p)}")


def over_caps(values: dict, caps: dict) -> dict[str, str]:
    """Name -> a message, for each value above its workshop cap (worded as for a bad link value)."""
    return {name: f"{name}={values[name]} is over this workshop's cap: expected at most {cap}"
            for name, cap in caps.items() if name in values and values[name] > cap}


def apply_strings(params: LabParams, assignments: dict[str, str]) -> LabParams:
    """Set several parameters from text (all checked before any is set)."""
    values = {name: coerce(type(params), name, text) for name, text in assignments.items()}
    try:
        params.param.update(**values)
    except ValueError as exc:  # a cross-parameter check param itself enforces
        raise ParamError(str(exc)) from None
    return params


def quick_mode() -> bool:
    """True when ``PAPERSCOPE_QUICK`` asks notebooks and apps to start at quick sizes."""
    return os.environ.get("PAPERSCOPE_QUICK", "").lower() in TRUE_WORDS
