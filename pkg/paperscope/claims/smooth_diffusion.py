"""Claims of the Smooth Diffusion lab (spec C1, C2; the lab's C3 and the paper's DDIM-inversion
claim C4), λ = 0.3 against the λ = 0 baseline trained alongside it, one run per (mode, seed).

From scratch and in the paper's setting in miniature (LoRA fine-tuning of a pre-trained λ = 0
model). Fine-tuned (1000 + 300 steps), pytest and ``paperscope verify`` measure the same runs at
the lab's default width, where the λ = 0 baseline samples digits. From scratch, verify runs the
spec's toy at that width (batch 256, Adam 1e-3, 1500 steps) and pytest a narrower net
(``QUICK_WIDTH``) that fits its time budget; C4-scratch is claimed at that narrower size only.
C3 ("no quality loss", the paper's FID 12.70 -> 12.10) is measured with the lab's FID-like score
in a digit classifier's features, not with the nearest-digit RMS proxy, which rewards blur.
"""

import concurrent.futures as cf
import multiprocessing
from functools import cache

from ..core.claims import Claim, Measurement
from ..labs import smooth_diffusion as sd


@cache
def _pool(workers: int) -> cf.ProcessPoolExecutor:
    """Spawned worker processes kept for the next mode's seeds (importing torch costs seconds)."""
    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def final_metrics_at(seeds: tuple, **size) -> list[dict]:
    """The last frame's metrics of one CPU run per seed (one torch thread each). Several seeds run
    side by side in spawned processes, each exactly a single-seed run; one seed (as ``verify``
    sends them) runs here."""
    jobs = [dict(size, seed=seed) for seed in seeds]
    if len(jobs) == 1:
        return [sd.final_metrics(jobs[0])]
    return list(_pool(len(jobs)).map(sd.final_metrics, jobs))


RUNS = Measurement(final_metrics_at, batched=True)
# pytest's width from scratch: about a third of the default width's multiply-adds per step, so the claims
# fit the test budget (its λ = 0 samples are noisier digits; verify measures at the default width).
QUICK_WIDTH = 128
LAB_WIDTH = sd.Params.param.hidden.default  # named in the paper sizes, so the record says it
# From scratch: the lab's step count in pytest; the spec's faithful toy (its width is the lab's
# default) in verify.
# pytest checks seeds 0-1 (every claim keeps its status there: verify --quick), verify all three.
SCRATCH_AT_LAB_SIZE = {"measure": RUNS, "quick_seeds": 2,
                       "quick": {"mode": "scratch", "reg_weight": 0.3, "hidden": QUICK_WIDTH}}
SCRATCH = {**SCRATCH_AT_LAB_SIZE, "paper": {"mode": "scratch", "reg_weight": 0.3, "hidden": LAB_WIDTH,
                                            "batch_size": 256, "lr": 1e-3, "train_steps": 1500}}
FINETUNE_STEPS = {"mode": "finetune", "reg_weight": 0.3, "train_steps": 1000, "finetune_steps": 300}
# Fine-tuned, at the default width in pytest too: the narrower net's fine-tunes smoothed more, but
# its λ = 0 samples were speckle, so its ISTD measured interpolations between speckle.
FINETUNE = {"measure": RUNS, "quick_seeds": 2, "quick": {**FINETUNE_STEPS, "hidden": LAB_WIDTH}}
MODES = {"scratch": SCRATCH, "finetune": FINETUNE}


C1_KNOWN_FAIL = {"finetune": ("LoRA-fine-tuned from a baseline that samples digits, λ = 0.3 lowers ISTD by "
                             "far less than 30 % within these fine-tuning steps")}


def ratio(name: str):
    """``name`` at λ = 0.3 over its value at λ = 0."""
    return lambda m: m[name] / m[f"{name}_baseline"]


CLAIMS = [
    *(claim for mode, runs in MODES.items() for claim in (
        Claim(f"C1-{mode}", f"SVR lowers ISTD, {mode}: ISTD(λ = 0.3) / ISTD(λ = 0)",
              value=ratio("istd"), threshold=0.7, direction="<=", **runs, known_fail=C1_KNOWN_FAIL.get(mode)),
        Claim(f"C1-{mode}-healthy", f"the λ = 0.3 model is not flagged collapsed, {mode} (1 = it is)",
              value=lambda m: float(m["collapsed"]), threshold=0.0, direction="<=", **runs),
        Claim(f"C2-{mode}", f"SVR lowers the CV of d_j, {mode}: CV(λ = 0.3) / CV(λ = 0)",
              value=ratio("cv"), threshold=1.0, direction="<", **runs))),
    Claim("C3-finetune", "no quality cost, finetune: FID-like score(λ = 0.3) / FID-like score(λ = 0)",
          value=ratio("fid"), threshold=1.0, direction="<=", **FINETUNE,
          known_fail=("fine-tuned at λ = 0.3, the samples sit farther from the real digits in the "
                      "classifier's features than the baseline's: at toy scale SVR costs sample quality")),
    Claim("C4-scratch", "DDIM-inversion MSE falls, scratch: MSE(λ = 0.3) / MSE(λ = 0)",
          value=ratio("inversion_mse"), threshold=1.0, direction="<", **SCRATCH_AT_LAB_SIZE),
    Claim("C4-finetune", "DDIM-inversion MSE falls, finetune: MSE(λ = 0.3) / MSE(λ = 0)",
          value=ratio("inversion_mse"), threshold=1.0, direction="<", **FINETUNE,
          known_fail="fine-tuned, the λ = 0.3 model inverts real digits worse than the baseline"),
]
