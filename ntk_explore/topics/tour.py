"""The tour: each claim of the source documents, with a verdict measured live at small scale.

Every ``*_verdict`` function runs the topic module behind one notebook at the
smallest settings that module's tests already validate, and turns the number it
measures into a :class:`Verdict`. Nothing is hard-coded except the expected
ranges (the claims themselves). :func:`run_all` returns every verdict; the
three width claims share one feature sweep (pass ``sweeps=`` to reuse it).

Run it in float64 (``jax.config.update("jax_enable_x64", True)``) to get the
verdicts the unit tests assert; notebook ``00_tour`` does so.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from . import features, finetune, kernel_loses, ntk_table, pntk_study, scaling, transfer, zigzag

__all__ = ["Verdict", "feature_sweeps", "feature_motion_verdict", "mup_verdict", "entk_motion_verdict",
           "transfer_verdict", "gp_ntk_tie_verdict", "distillation_verdict", "head_probing_verdict",
           "data_scaling_verdict", "pntk_verdict", "run_all", "STATUSES",
           "index_scaling_verdict", "kernel_keeps_moving_verdict", "pretrained_catch_up_verdict",
           "kernel_loses_verdicts"]

STATUSES = ("holds", "does not hold", "depends on", "inconclusive")

# the source documents (files in ../shared/seeds/)
LW = "lesswrong-ntk-cant-learn-features.txt"
SCALE = "ntk-scaling-limitations-abstract.txt"
ISSUES = "issues-with-ntk-approach.txt"
TALK = "defense-of-empirical-ntk-talk.txt"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One claim and what the library measured for it.

    ``status`` is ``'holds'``, ``'does not hold'`` (optionally followed by a
    qualifier such as ``' here'``) or ``'depends on X'``. ``expected`` is the
    closed interval ``(lo, hi)`` the measured number must lie in for the claim
    to hold; ``notebook`` is the file name of the notebook that explores it.
    """

    claim: str
    source: str
    measured: float
    measured_what: str
    expected: tuple[float, float]
    expected_what: str
    status: str
    notebook: str
    detail: str = ""

    def __post_init__(self):
        if not self.status.startswith(STATUSES):
            raise ValueError(f"status must start with one of {STATUSES}, got {self.status!r}")

    @property
    def in_range(self) -> bool:
        return bool(math.isfinite(self.measured) and self.expected[0] <= self.measured <= self.expected[1])


def _status(ok: bool, qualifier: str = "") -> str:
    return "holds" if ok else "does not hold" + qualifier


# ---------------------------------------------------------------------------
# width claims (notebook 03): one sweep per parametrization, shared by three verdicts

FEATURE_WIDTHS = (64, 128, 256, 512, 1024)


def feature_sweeps(key: jax.Array | None = None, *, steps: int = 300, seeds: int = 2) -> dict:
    """``{'ntk': FeatureSweep, 'mup': FeatureSweep}`` at :data:`features.DEFAULTS`
    (float32 task, as in ``tests/test_features.py``)."""
    task_key, key = (jax.random.key(0), jax.random.key(1)) if key is None else jax.random.split(key)
    d = features.DEFAULTS
    task = features.feature_task(task_key, n=d["n"], d=d["d"], scale=d["scale"], dtype=jnp.float32)
    return {p: features.feature_sweep(task, FEATURE_WIDTHS, key=key, parametrization=p,
                                      depth=d["depth"], lr=d["lr"], steps=steps, seeds=seeds)
            for p in ("ntk", "mup")}


def feature_motion_verdict(sweeps: dict) -> Verdict:
    """Hidden-feature change vs width under NTK parametrization (``sweeps`` from :func:`feature_sweeps`)."""
    fit = sweeps["ntk"].fit("feature")
    lo, hi = -0.6, -0.35
    return Verdict(
        "Hidden features move O(1/sqrt(width)) in NTK parametrization", LW,
        fit.slope, "log-log slope of relative hidden-feature change vs width (64-1024)",
        (lo, hi), "about -1/2", _status(lo <= fit.slope <= hi), "03_lazy_vs_feature_learning.ipynb",
        f"95% CI [{fit.ci95[0]:.2f}, {fit.ci95[1]:.2f}]")


def mup_verdict(sweeps: dict) -> Verdict:
    """muP keeps hidden features moving at large width (fit over widths >= ``MUP_MIN_WIDTH``)."""
    fit = sweeps["mup"].fit("feature", min_width=features.MUP_MIN_WIDTH)
    widest = float(sweeps["mup"].mean("feature")[-1])
    lo, hi = -0.1, 0.1
    ok = lo <= fit.slope <= hi and widest > 0.1
    return Verdict(
        "muP keeps hidden features moving as width grows", LW,
        fit.slope, "log-log slope of relative hidden-feature change vs width (256-1024)",
        (lo, hi), "about 0 (and change > 0.1 at the widest net)", _status(ok),
        "03_lazy_vs_feature_learning.ipynb", f"feature change at width 1024: {widest:.3f}")


def entk_motion_verdict(sweeps: dict) -> Verdict:
    """Relative eNTK change after training falls with width under NTK parametrization."""
    fit = sweeps["ntk"].fit("kernel")
    motion = sweeps["ntk"].mean("kernel")
    lo, hi = -1.25, -0.7
    ok = lo <= fit.slope <= hi and motion[-1] < motion[0]
    return Verdict(
        "The eNTK stays nearly constant in wide nets and moves in narrow ones",
        SCALE,
        fit.slope, "log-log slope of relative eNTK change over training vs width (NTK param.)",
        (lo, hi), "about -1", _status(ok), "03_lazy_vs_feature_learning.ipynb",
        f"eNTK change {motion[0]:.3f} at width 64, {motion[-1]:.4f} at width 1024")


# ---------------------------------------------------------------------------
# other notebooks


def transfer_verdict(key: jax.Array | None = None) -> Verdict:
    """Linearized-at-init transfer: benefit for +B, harm for -B (sign flip)."""
    key = jax.random.key(0) if key is None else key
    res = transfer.transfer_experiment(key=key, sizes=(8, 32, 128), seeds=1, dtype=jnp.float32)
    plus = res.effect("lin_init_from_A", "lin_init", 1).mean(0)
    minus = res.effect("lin_init_from_A", "lin_init", -1).mean(0)
    ok = bool(np.all(plus > 0) and np.all(minus < 0))
    measured = float(minus.mean())
    return Verdict(
        "Transfer through a fixed kernel only shifts the starting point (flip the target and "
        "it hurts)", LW,
        measured, "mean benefit of pretraining on A for the flipped target -B (linearized at init)",
        (-math.inf, 0.0), "< 0 for -B (and > 0 for +B at every size)", _status(ok),
        "04_transfer_through_a_fixed_kernel.ipynb",
        f"benefit for +B {plus.mean():+.3f}, for -B {measured:+.3f} (relative test MSE)")


def gp_ntk_tie_verdict(trials: int = 3, n: int = 300, seed: int = 11342) -> Verdict:
    """GP1 vs NTKB1 regression error, as coded in the published table's code."""
    res = ntk_table.run_table(trials, n=n, form="as-coded", seed=seed, methods=("GP1", "NTKB1"))
    gp, ntk = res.mean("GP1"), res.mean("NTKB1")
    rel = abs(gp - ntk) / ntk
    paper_gp, paper_ntk = ntk_table.PAPER_TABLE["GP1"][0], ntk_table.PAPER_TABLE["NTKB1"][0]
    return Verdict(
        "GP and NTK regression tie in the published table", ISSUES,
        rel, f"|RMSE(GP1) - RMSE(NTKB1)| / RMSE(NTKB1), {trials} trials of n={n}",
        (0.0, 0.1), "< 0.1 (published: "
        f"{abs(paper_gp - paper_ntk) / paper_ntk:.3f})", _status(rel <= 0.1),
        "02_is_a_trained_net_its_ntk.ipynb", f"GP1 {gp:.4f}, NTKB1 {ntk:.4f}")


def distillation_verdict(seed: int = 0, epochs: int = 200) -> Verdict:
    """Filtered (moving-average) teacher targets vs the final teacher, by L2 distance to p*."""
    k_toy, k_teacher, _ = jax.random.split(jax.random.key(seed), 3)
    toy = zigzag.make_toy(k_toy)
    run = zigzag.train_teacher(toy, zigzag.toy_model(), k_teacher, epochs=epochs)
    if run.memorized_at is None:
        return Verdict("Filtered distillation targets sit closer to p* than the teacher's",
                       TALK, math.nan, "teacher never memorized",
                       (0.0, 0.9), "<= 0.9", "depends on training long enough to memorize",
                       "05_learning_paths_and_distillation.ipynb")
    t = zigzag.distill_targets(toy, run)
    filt = zigzag.distance_to_pstar(t.filtered, toy.pstar)
    teach = zigzag.distance_to_pstar(t.teacher, toy.pstar)
    ratio = filt / teach
    return Verdict(
        "Filtered distillation targets sit closer to p* than the teacher's", TALK,
        ratio, "distance to p* of filtered targets / of the teacher's final predictions",
        (0.0, 0.9), "<= 0.9", _status(ratio <= 0.9), "05_learning_paths_and_distillation.ipynb",
        f"filtered {filt:.3f}, teacher {teach:.3f}, one-hot "
        f"{zigzag.distance_to_pstar(t.onehot, toy.pstar):.3f} (memorized at epoch "
        f"{int(run.epochs[run.memorized_at])})")


def head_probing_verdict(seed: int = 0) -> Verdict:
    """Spearman correlation of energy at the start of fine-tuning with feature change after it."""
    data = finetune.digits_transfer(n_train=200)
    pre = finetune.pretrain_backbone(data, key=jax.random.key(seed), steps=400)
    sweep = finetune.tau_sweep(pre, data, key=jax.random.key(seed + 1), taus=(0, 30, 300, 3000),
                               seeds=3, ft_lr=0.5, ft_steps=200)
    energy = sweep.mean("energy")
    rho = sweep.spearman()
    ok = bool(np.all(np.diff(energy) < 0)) and rho >= 0.8
    change = sweep.mean("feature_change")
    return Verdict(
        "Stopping head probing early leaves energy for feature change", TALK,
        rho, "Spearman correlation over HP steps (0-3000) of energy and feature change",
        (0.8, 1.0), ">= 0.8 (energy falling with HP steps)", _status(ok),
        "06_how_to_prepare_your_task_head.ipynb",
        f"energy {energy[0]:.3f} -> {energy[-1]:.3f}, feature change {change[0]:.3f} -> {change[-1]:.3f}")


def data_scaling_verdict(seed: int = 0) -> Verdict:
    """Net vs its kernels' data-scaling exponents on load_digits (small MLP)."""
    curves = scaling.data_scaling(scaling.digits_task(), [16, 32, 64], key=jax.random.key(seed),
                                  width=64, steps=100, learners=("net", "entk_init", "ntk"))
    e = curves.exponents()
    best_kernel = max(e["entk_init"].alpha, e["ntk"].alpha)
    diff = e["net"].alpha - best_kernel
    ok = e["net"].ci95[0] > best_kernel  # the net's whole interval above both kernels
    return Verdict(
        "Trained nets scale better with data than their kernels", SCALE,
        diff, "alpha(net) - max(alpha(eNTK at init), alpha(NTK)), loss ~ n^-alpha, n = 16-64",
        (0.0, math.inf), "> 0, with the net's 95% interval above both kernels",
        _status(ok, " here"), "07_data_scaling_beyond_the_kernel.ipynb",
        f"alpha net {e['net'].alpha:.2f} [{e['net'].ci95[0]:.2f}, {e['net'].ci95[1]:.2f}], "
        f"eNTK {e['entk_init'].alpha:.2f}, NTK {e['ntk'].alpha:.2f} (load_digits, width 64)")


def pntk_verdict(seed: int = 1) -> Verdict:
    """Relative gap ||eNTK - pNTK (x) I_k|| / ||eNTK|| at init vs width on 32 digits (k = 10)."""
    x = scaling.digits_task().x[:32]
    sweep = pntk_study.gap_vs_width(x, [64, 256, 1024, 4096], key=jax.random.key(seed), seeds=2,
                                    out_dim=10, depth=1)
    fit = sweep.fit
    lo, hi = -0.6, -0.4
    ok = lo <= fit.slope <= hi and bool(np.all(np.diff(sweep.mean) < 0))
    return Verdict(
        "pNTK approximates the eNTK, gap falling like width^-1/2", TALK,
        fit.slope, "log-log slope of ||eNTK - pNTK x I|| / ||eNTK|| vs width (64-4096, k=10)",
        (lo, hi), "about -1/2", _status(ok), "08_pntk_and_active_learning.ipynb",
        f"gap {sweep.mean[0]:.3f} at width 64, {sweep.mean[-1]:.4f} at width 4096")


# ---------------------------------------------------------------------------
# notebook 09 (issue 13): where the kernel loses. One self-contained block; each verdict
# wraps a kernel_loses verdict (three outcomes: holds / does not hold / inconclusive).

LOSES_NB = "09_where_the_kernel_loses.ipynb"
LOSES_SIZES = (128, 256, 512, 1024, 2048)  # 5 sizes spanning 16x


def _from_outcome(o, measured_what: str, expected: tuple, expected_what: str) -> Verdict:
    return Verdict(o.claim, SCALE, o.measured, measured_what, expected, expected_what, o.status,
                   LOSES_NB, o.detail)


def index_scaling_verdict(seed: int = 0, seeds: int = 2, curves=None) -> Verdict:
    """Net vs kernel exponents on the single-index task, n = 128..2048 (intervals compared)."""
    curves = curves or kernel_loses.data_scaling(jax.random.key(seed), LOSES_SIZES, seeds=seeds,
                                                 learners=("net", "entk_init", "ntk"))
    o = kernel_loses.data_scaling_verdict(curves)
    return _from_outcome(o, "exponent of the trained net (single-index task, n = 128-2048)",
                         (o.against_ci95[1], math.inf),
                         "net's 95% interval above the best kernel's")


def kernel_keeps_moving_verdict(seed: int = 1, n: int = 2048) -> Verdict:
    """S(K0, Kt) when the loss reached 5% of its start, over its final value (rich net)."""
    rich = kernel_loses.kernel_path(jax.random.key(seed), n=n)
    lazy = kernel_loses.kernel_path(jax.random.key(seed), n=n,
                                    alpha=kernel_loses.DEFAULTS["lazy_alpha"])
    o = kernel_loses.kernel_moves_verdict(rich, lazy)
    return _from_outcome(o, "S(K0, Kt) at the 5%-loss step / final S(K0, Kt)", (0.0, 0.85),
                         "<= 0.85 (and the lazy net's final S <= 0.01)")


def pretrained_catch_up_verdict(seed: int = 0, seeds: int = 2, n_pre: int = 512) -> Verdict:
    """Exponent of the eNTK after pretraining on ``n_pre`` samples against the net's."""
    curves = kernel_loses.data_scaling(jax.random.key(seed), LOSES_SIZES, seeds=seeds,
                                       learners=("net", "pretrained"), n_pre=n_pre)
    o = kernel_loses.pretrained_kernel_verdict(curves, curves)
    return _from_outcome(o, f"exponent of the eNTK pretrained on {n_pre} samples",
                         (-math.inf, o.against_ci95[0]), "interval wholly below the net's")


def kernel_loses_verdicts(seed: int = 0) -> list[Verdict]:
    """The three verdicts of notebook 09 (about 1-2 minutes on 2 CPU cores)."""
    return [index_scaling_verdict(seed), kernel_keeps_moving_verdict(seed + 1),
            pretrained_catch_up_verdict(seed)]


def run_all(key: jax.Array | None = None, *, free_compiled: bool = True,
            include_kernel_loses: bool = False) -> list[Verdict]:
    """Every verdict, in the order of the tour (about 30-40 s on 2 CPU cores).

    ``key`` seeds the shared feature sweeps; ``None`` uses the keys the tests use.
    The other verdicts use their own fixed, validated seeds. ``free_compiled``
    empties JAX's compilation caches after each topic (``jax.clear_caches()``):
    the topics share no compiled code, and keeping it all took the tour notebook
    from a 639 MB to a 962 MB peak (2 cores, jax 0.10.2) at no saving in time.
    """
    sweeps = feature_sweeps(key)
    steps = [lambda: feature_motion_verdict(sweeps), lambda: mup_verdict(sweeps),
             lambda: entk_motion_verdict(sweeps), transfer_verdict, gp_ntk_tie_verdict,
             distillation_verdict, head_probing_verdict, data_scaling_verdict, pntk_verdict]
    if include_kernel_loses:  # notebook 09's verdicts: 1-2 more minutes, off by default
        steps += [index_scaling_verdict, kernel_keeps_moving_verdict, pretrained_catch_up_verdict]
    verdicts = []
    for step in steps:
        verdicts.append(step())
        if free_compiled:
            jax.clear_caches()
    return verdicts
