"""Claims of the rich/lazy lab (spec C1-C3, the matched-fit check, the linear panel and the
initial-scale control): one run per seed, every claim checked on every seed.

Only the extreme ranks r = 1 and r = N are compared (the spec: the intermediate rank is not
always monotone). The sizes are the spec's faithful CPU experiment (N = 100, 2000 SGD steps, the
lab's defaults), which the tests use too: at smaller sizes rank 1 is still catching up with the
task and the weight-change comparison flips on some seeds (the lab's ``SMALL_SIZE_NOTICE``).

Margins: a weight change counts as smaller when it is at least 10 % smaller (a ratio of 1.1,
the relative size of the spec's KA margin of 0.1 on KA's [0, 1] range); a kernel alignment
counts as higher when it is higher by the spec's 0.1.
"""

import torch

from ..core.claims import Claim, Measurement
from ..labs import rich_lazy as rl


def extremes(seed: int, hidden_size: int, steps: int, **params) -> dict:
    """One run's end-of-training summaries of the two extreme ranks: ``{"low": r = 1, "high": r = N}``,
    each with weight_change, kernel_alignment, representation_alignment, final_loss, accuracy."""
    *_, last = rl.run(rl.Params(hidden_size=hidden_size, steps=steps, n_ranks=2, seed=seed, device="cpu", **params))
    by_rank = last.metrics["by_rank"]
    return {"low": by_rank["1"], "high": by_rank[str(hidden_size)]}


def rnn_runs(seed: int, hidden_size: int, steps: int) -> dict:
    """The ReLU RNN on the 2AF task, r = 1 vs r = N, at the default scale g = 1.25 (``low``,
    ``high``) and, for the scale control, at the small scale of :data:`SCALES` (``small_g``)."""
    torch.set_num_threads(1)  # small models: one thread beats a contended pool
    run = extremes(seed, hidden_size, steps, network="rnn")
    return {**run, "small_g": extremes(seed, hidden_size, steps, network="rnn", init_scale=SCALES[0])}


def linear_runs(seed: int, hidden_size: int, steps: int) -> dict:
    """The linear student-teacher network, r = 1 vs r = N, with a random and a teacher-aligned W1."""
    torch.set_num_threads(1)
    return {"random": extremes(seed, hidden_size, steps, network="linear"),
            "aligned": extremes(seed, hidden_size, steps, network="linear", aligned=True)}


def gap(low: dict, high: dict, metric: str) -> float:
    """``high[metric] - low[metric]``."""
    return high[metric] - low[metric]


def rank_gap(run: dict, metric: str) -> float:
    """r = N minus r = 1."""
    return gap(run["low"], run["high"], metric)


def aligned_gap(runs: dict, metric: str) -> float:
    """The rank-1 aligned W1 minus the rank-1 random W1."""
    return gap(runs["random"]["low"], runs["aligned"]["low"], metric)


def ratio(low: dict, high: dict, metric: str) -> float:
    """``low[metric] / high[metric]``: above 1 when ``high`` is the lazier (moves less)."""
    return low[metric] / high[metric]


def rank_ratio(run: dict, metric: str) -> float:
    """r = 1 over r = N."""
    return ratio(run["low"], run["high"], metric)


def aligned_ratio(runs: dict, metric: str) -> float:
    """The rank-1 random W1 over the rank-1 aligned W1."""
    return ratio(runs["random"]["low"], runs["aligned"]["low"], metric)


def scale_ratio(run: dict, rank: str, metric: str) -> float:
    """At one extreme rank (``low`` / ``high``), the small g's ``metric`` over the default g's."""
    return ratio(run["small_g"][rank], run[rank], metric)


def scale_gap(run: dict, rank: str, metric: str) -> float:
    """At one extreme rank, the default g's ``metric`` minus the small g's."""
    return gap(run["small_g"][rank], run[rank], metric)


def relative_loss_gap(run: dict) -> float:
    """|loss(r = N) - loss(r = 1)| over the larger of the two."""
    low, high = run["low"]["final_loss"], run["high"]["final_loss"]
    return abs(high - low) / max(high, low)


# The spec's faithful CPU experiment (the Params defaults), three seeds: the size its claims are stated
# at, so paper = quick (its GPU scale-up, N = 300 and 10 000 steps, states no claims of its own).
SIZE = {"hidden_size": 100, "steps": 2000}
# pytest checks seeds 0-1 (every claim keeps its status there: verify --quick), verify all three.
RNN = {"measure": Measurement(rnn_runs), "quick": SIZE, "quick_seeds": 2}
LINEAR = {"measure": Measurement(linear_runs), "quick": SIZE, "quick_seeds": 2}
# The classic control, initial scale g: the bottom of the spec's range against the repo's default
# (W0sig = 1.25, the lab's default). The top of the range, g = 2, can diverge for r = 1 at the
# repo's learning rate (the whole norm sits in one singular value); the notebook's sweep shows it.
SCALES = (0.5, 1.25)
MARGIN_RATIO = 1.1  # "moves less": at least 10 % less (see the module docstring)
MARGIN_KA = 0.1  # "keeps its kernel": KA higher by the spec's 0.1


def moves_less(id: str, text: str, ratio, **measure) -> Claim:
    """Per seed: ``ratio(result)`` (the richer's weight change over the lazier's) is at least 1.1."""
    return Claim(id, text, value=ratio, threshold=MARGIN_RATIO, direction=">=", **measure)


def keeps_kernel(id: str, text: str, gap, **measure) -> list[Claim]:
    """A KA gap, per seed: positive (``-sign``) and above the spec's 0.1 (the spec states C2 per seed)."""
    return [Claim(f"{id}-sign", text, value=gap, threshold=0.0, direction=">", **measure),
            Claim(id, f"{text}, by the spec's margin", value=gap, threshold=MARGIN_KA, direction=">", **measure)]


CLAIMS = [
    Claim("C1", "rnn: full rank moves less: ‖ΔW‖_F(r = 1) / ‖ΔW‖_F(r = N)",
          value=lambda r: rank_ratio(r, "weight_change"), threshold=MARGIN_RATIO, direction=">=",
          known_fail=("by the 10 % margin the full-rank start does not move less on every seed: on some "
                      "seeds it moves only a few percent less than rank 1 (the kernel-alignment gap, C2, "
                      "is large on every seed)"), **RNN),
    *keeps_kernel("C2", "rnn: KA(r = N) − KA(r = 1)", lambda r: rank_gap(r, "kernel_alignment"), **RNN),
    Claim("C3", "rnn: RA(r = N) − RA(r = 1)", value=lambda r: rank_gap(r, "representation_alignment"),
          threshold=0.0, direction=">=", **RNN),
    Claim("fit-loss", "rnn: extremes fit alike: |Δ final loss| / larger final loss",
          value=relative_loss_gap, threshold=0.25, direction="<", **RNN),
    Claim("fit-accuracy", "rnn: extremes fit alike: |accuracy(r = N) − accuracy(r = 1)|",
          value=lambda r: abs(rank_gap(r, "accuracy")), threshold=0.05, direction="<", **RNN),
    moves_less("linear-C1", "linear: full rank moves less: ‖ΔW₁‖_F(r = 1) / ‖ΔW₁‖_F(r = N)",
               lambda r: rank_ratio(r["random"], "weight_change"), **LINEAR),
    Claim("linear-fit", "linear: both extremes fit the teacher: min accuracy of r = 1, N",
          value=lambda r: min(r["random"]["low"]["accuracy"], r["random"]["high"]["accuracy"]),
          threshold=0.99, direction=">", **LINEAR),
    *keeps_kernel("linear-C2", "linear: KA(r = N) − KA(r = 1)",
                  lambda r: rank_gap(r["random"], "kernel_alignment"), **LINEAR),
    moves_less("aligned-C1", "linear, r = 1: aligned W₁ moves less: ‖ΔW₁‖_F(random) / (aligned)",
               lambda r: aligned_ratio(r, "weight_change"), **LINEAR),
    *keeps_kernel("aligned-C2", "linear, r = 1: KA(aligned) − KA(random)",
                  lambda r: aligned_gap(r, "kernel_alignment"), **LINEAR),
    # The classic control: a larger initial scale g is lazier, at each extreme rank.
    moves_less("g-C1", "rnn, r = N: larger g moves less: ‖ΔW‖/‖W_0‖ (g = 0.5) / (g = 1.25)",
               lambda r: scale_ratio(r, "high", "relative_weight_change"), **RNN),
    moves_less("g-C1-r1", "rnn, r = 1: larger g moves less: ‖ΔW‖/‖W_0‖ (g = 0.5) / (g = 1.25)",
               lambda r: scale_ratio(r, "low", "relative_weight_change"), **RNN),
    Claim("g-C2", "rnn, r = N: larger g keeps its kernel: KA(g = 1.25) − KA(g = 0.5)",
          value=lambda r: scale_gap(r, "high", "kernel_alignment"), threshold=MARGIN_KA, direction=">",
          known_fail=("a larger g does not raise the full-rank start's kernel alignment by the margin on "
                      "every seed: at the repo's fixed learning rate the scale effect shows in the relative "
                      "weight change (g-C1), not in KA"), **RNN),
    Claim("g-C2-r1", "rnn, r = 1: larger g keeps its kernel: KA(g = 1.25) − KA(g = 0.5)",
          value=lambda r: scale_gap(r, "low", "kernel_alignment"), threshold=MARGIN_KA, direction=">",
          known_fail=("the rank-1 start's kernel alignment falls as g grows: with the whole norm in one "
                      "singular value, a larger g makes rank 1 richer, not lazier"), **RNN),
]
