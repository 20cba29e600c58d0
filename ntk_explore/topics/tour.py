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
from scipy import stats

from ..core import validation as V
from . import features, finetune, kernel_loses, ntk_table, pntk_study, scaling, transfer, zigzag

__all__ = ["Verdict", "feature_sweeps", "feature_motion_verdict", "mup_verdict", "entk_motion_verdict",
           "transfer_verdict", "gp_ntk_tie_verdict", "distillation_verdict", "head_probing_verdict",
           "data_scaling_verdict", "pntk_verdict", "run_all", "STATUSES", "Source", "SOURCES",
           "status_of", "index_scaling_verdict", "kernel_keeps_moving_verdict",
           "pretrained_catch_up_verdict", "kernel_loses_verdicts"]

STATUSES = ("holds", "does not hold", "inconclusive")


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a claim comes from: who wrote it, what, when, and a stable link."""

    authors: str
    title: str
    year: int
    venue: str
    url: str

    def __str__(self) -> str:
        return f"{self.authors} ({self.year}), \u201c{self.title}\u201d, {self.venue}. {self.url}"


# The four documents the claims come from.
LW = Source("interstice", "NTK/GP Models of Neural Nets Can't Learn Features", 2021, "LessWrong",
            "https://www.lesswrong.com/posts/76cReK4Mix3zKCWNT/ntk-gp-models-of-neural-nets-can-t-learn-features")
SCALE = Source("Nikhil Vyas, Yamini Bansal, Preetum Nakkiran",
               "Limitations of the NTK for Understanding Generalization in Deep Learning", 2022,
               "arXiv:2206.10012", "https://arxiv.org/abs/2206.10012")
ISSUES = Source("Haoran Liu, Anthony Tai, David J. Crandall, Chunfeng Huang",
                "Issues with Neural Tangent Kernel Approach to Neural Networks", 2025,
                "arXiv:2501.10929", "https://arxiv.org/abs/2501.10929")
TALK = Source("Danica J. Sutherland", "A Defense of (Empirical) Neural Tangent Kernels", 2023,
              "talk, University of Michigan AI Seminar, 23 March 2023",
              "https://cse.engin.umich.edu/event/a-defense-of-empirical-neural-tangent-kernels")
# The papers behind the talk's and the post's claims that the tour measures.
MUP = Source("Greg Yang, Edward J. Hu", "Tensor Programs IV: Feature Learning in Infinite-Width Neural "
             "Networks", 2021, "ICML 2021, arXiv:2011.14522", "https://arxiv.org/abs/2011.14522")
ZIGZAG = Source("Yi Ren, Shangmin Guo, Danica J. Sutherland", "Better Supervisory Signals by Observing "
                "Learning Paths", 2022, "ICLR 2022, arXiv:2203.02485", "https://arxiv.org/abs/2203.02485")
HEAD = Source("Yi Ren, Shangmin Guo, Wonho Bae, Danica J. Sutherland", "How to prepare your task head "
              "for finetuning", 2023, "ICLR 2023, arXiv:2302.05779", "https://arxiv.org/abs/2302.05779")
PNTK = Source("Mohamad Amin Mohamadi, Wonho Bae, Danica J. Sutherland", "A Fast, Well-Founded "
              "Approximation to the Empirical Neural Tangent Kernel", 2023, "ICML 2023, arXiv:2206.12543",
              "https://arxiv.org/abs/2206.12543")
SOURCES = (LW, SCALE, ISSUES, TALK, MUP, ZIGZAG, HEAD, PNTK)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One claim and what the library measured for it.

    ``expected`` is the closed range ``(lo, hi)`` the claim predicts for the
    measured number; ``interval`` is the range the measurement rests on (a 95%
    interval, or a range over seeds/sizes, as ``interval_what`` says). ``status``:

    * ``'holds'`` -- the whole interval lies inside ``expected`` (and any extra
      condition named in ``expected_what`` is met);
    * ``'does not hold'`` -- the interval lies wholly outside ``expected``, or an
      extra condition fails;
    * ``'inconclusive'`` -- the interval straddles an end of ``expected``: this
      run cannot tell.

    ``sources`` name the document the claim comes from and the paper behind it;
    ``notebook`` is the file name of the notebook that explores it.
    """

    claim: str
    sources: tuple[Source, ...]
    measured: float
    measured_what: str
    interval: tuple[float, float]
    interval_what: str
    expected: tuple[float, float]
    expected_what: str
    status: str
    notebook: str
    detail: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def in_range(self) -> bool:
        return bool(math.isfinite(self.measured) and self.expected[0] <= self.measured <= self.expected[1])

    @property
    def summary(self) -> str:
        """``'holds: slope -0.48, 95% CI [-0.55, -0.41] inside [-0.6, -0.35]'``."""
        lo, hi = self.interval
        return (f"{self.status}: {self.measured:.3g}, {self.interval_what} [{lo:.3g}, {hi:.3g}]; "
                f"claim {_range_text(*self.expected)}")


def _range_text(lo: float, hi: float) -> str:
    if lo == -math.inf:
        return f"< {hi:g}"
    if hi == math.inf:
        return f"> {lo:g}"
    return f"in [{lo:g}, {hi:g}]"


def status_of(interval: tuple[float, float], expected: tuple[float, float], extra: bool = True) -> str:
    """Three outcomes from where the measured interval lies relative to the claimed range."""
    lo, hi = interval
    if not (math.isfinite(lo) and math.isfinite(hi)) or not extra:
        return "does not hold"
    if expected[0] <= lo and hi <= expected[1]:
        return "holds"
    if hi < expected[0] or lo > expected[1]:
        return "does not hold"
    return "inconclusive"


# ---------------------------------------------------------------------------
# width claims (notebook 03): one sweep per parametrization, shared by three verdicts

FEATURE_WIDTHS = (64, 128, 256, 512, 1024)


@V.checked
def feature_sweeps(key: jax.Array | None = None, *, steps: int = 300, seeds: int = 2) -> dict:
    """``{'ntk': FeatureSweep, 'mup': FeatureSweep}`` at :data:`features.DEFAULTS`
    (float32 task, as in ``tests/test_features.py``)."""
    task_key, key = (jax.random.key(0), jax.random.key(1)) if key is None else jax.random.split(key)
    d = features.DEFAULTS
    task = features.feature_task(task_key, n=d["n"], d=d["d"], scale=d["scale"], dtype=jnp.float32)
    return {p: features.feature_sweep(task, FEATURE_WIDTHS, key=key, parametrization=p,
                                      depth=d["depth"], lr=d["lr"], steps=steps, seeds=seeds)
            for p in ("ntk", "mup")}


@V.checked
def feature_motion_verdict(sweeps: dict) -> Verdict:
    """Hidden-feature change vs width under NTK parametrization (``sweeps`` from :func:`feature_sweeps`)."""
    fit = sweeps["ntk"].fit("feature")
    expected = (-0.6, -0.35)
    return Verdict(
        "Hidden features move O(1/sqrt(width)) in NTK parametrization", (LW, MUP),
        fit.slope, "log-log slope of relative hidden-feature change vs width (64-1024)",
        fit.ci95, "95% CI of the fit", expected, "about -1/2",
        status_of(fit.ci95, expected), "03_lazy_vs_feature_learning.ipynb")


@V.checked
def mup_verdict(sweeps: dict) -> Verdict:
    """muP keeps hidden features moving at large width (fit over widths >= ``MUP_MIN_WIDTH``)."""
    fit = sweeps["mup"].fit("feature", min_width=features.MUP_MIN_WIDTH)
    widest = float(sweeps["mup"].mean("feature")[-1])
    expected = (-0.15, 0.15)
    return Verdict(
        "muP keeps hidden features moving as width grows", (LW, MUP),
        fit.slope, "log-log slope of relative hidden-feature change vs width (256-1024)",
        fit.ci95, "95% CI of the fit", expected, "about 0 (and change > 0.1 at the widest net)",
        status_of(fit.ci95, expected, widest > 0.1), "03_lazy_vs_feature_learning.ipynb",
        f"feature change at width 1024: {widest:.3f}")


@V.checked
def entk_motion_verdict(sweeps: dict) -> Verdict:
    """Relative eNTK change after training falls with width under NTK parametrization."""
    fit = sweeps["ntk"].fit("kernel")
    motion = sweeps["ntk"].mean("kernel")
    expected = (-1.5, -0.5)
    return Verdict(
        "The eNTK stays nearly constant in wide nets and moves in narrow ones", (SCALE,),
        fit.slope, "log-log slope of relative eNTK change over training vs width (NTK param.)",
        fit.ci95, "95% CI of the fit", expected, "about -1 (and less motion at width 1024 than 64)",
        status_of(fit.ci95, expected, bool(motion[-1] < motion[0])), "03_lazy_vs_feature_learning.ipynb",
        f"eNTK change {motion[0]:.3f} at width 64, {motion[-1]:.4f} at width 1024")


# ---------------------------------------------------------------------------
# other notebooks


@V.checked
def transfer_verdict(key: jax.Array | None = None) -> Verdict:
    """Linearized-at-init transfer: benefit for +B, harm for -B (sign flip)."""
    key = jax.random.key(0) if key is None else key
    res = transfer.transfer_experiment(key=key, sizes=(8, 32, 128), seeds=1, dtype=jnp.float32)
    plus = res.effect("lin_init_from_A", "lin_init", 1).mean(0)
    minus = res.effect("lin_init_from_A", "lin_init", -1).mean(0)
    measured = float(minus.mean())
    expected = (-math.inf, 0.0)
    return Verdict(
        "Transfer through a fixed kernel only shifts the starting point (flip the target and "
        "it hurts)", (LW,),
        measured, "mean benefit of pretraining on A for the flipped target -B (linearized at init)",
        (float(minus.min()), float(minus.max())), "range over target sizes 8, 32, 128 (1 seed)",
        expected, "< 0 for -B (and > 0 for +B at every size)",
        status_of((float(minus.min()), float(minus.max())), expected, bool(np.all(plus > 0))),
        "04_transfer_through_a_fixed_kernel.ipynb",
        f"benefit for +B {plus.mean():+.3f}, for -B {measured:+.3f} (relative test MSE)")


@V.checked
def gp_ntk_tie_verdict(trials: int = 6, n: int = 300, seed: int = 11342) -> Verdict:
    """GP1 vs NTKB1 regression error, as coded in the published table's code (paired over trials)."""
    res = ntk_table.run_table(trials, n=n, form="as-coded", seed=seed, methods=("GP1", "NTKB1"))
    gp, ntk = res.mean("GP1"), res.mean("NTKB1")
    rel = (np.asarray(res.rmse["GP1"]) - np.asarray(res.rmse["NTKB1"])) / ntk
    half = float(stats.t.ppf(0.975, rel.size - 1) * np.std(rel, ddof=1) / math.sqrt(rel.size))
    mid = float(rel.mean())
    paper_gp, paper_ntk = ntk_table.PAPER_TABLE["GP1"][0], ntk_table.PAPER_TABLE["NTKB1"][0]
    expected = (-0.1, 0.1)
    return Verdict(
        "GP and NTK regression tie in the published table", (ISSUES,),
        mid, f"(RMSE(GP1) - RMSE(NTKB1)) / RMSE(NTKB1), {trials} trials of n={n}",
        (mid - half, mid + half), f"95% t-interval over {trials} paired trials",
        expected, f"within +-0.1 (published: {(paper_gp - paper_ntk) / paper_ntk:+.3f})",
        status_of((mid - half, mid + half), expected), "02_is_a_trained_net_its_ntk.ipynb",
        f"GP1 {gp:.4f}, NTKB1 {ntk:.4f}")


def _bootstrap_ratio(a: np.ndarray, b: np.ndarray, seed: int = 0, draws: int = 2000) -> tuple[float, float]:
    """95% paired bootstrap interval of ``mean(a) / mean(b)`` over the rows of ``a``, ``b`` ``(n,)``."""
    idx = np.random.default_rng(seed).integers(0, a.size, size=(draws, a.size))
    ratios = a[idx].mean(1) / b[idx].mean(1)
    return float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))


@V.checked
def distillation_verdict(seed: int = 0, epochs: int = 200) -> Verdict:
    """Filtered (moving-average) teacher targets vs the final teacher, by L2 distance to p*."""
    k_toy, k_teacher, _ = jax.random.split(jax.random.key(seed), 3)
    toy = zigzag.make_toy(k_toy)
    run = zigzag.train_teacher(toy, zigzag.toy_model(), k_teacher, epochs=epochs)
    claim, expected = "Filtered distillation targets sit closer to p* than the teacher's", (0.0, 0.9)
    if run.memorized_at is None:
        return Verdict(claim, (TALK, ZIGZAG), math.nan, "teacher never memorized its labels",
                       (math.nan, math.nan), "no interval", expected, "<= 0.9", "does not hold",
                       "05_learning_paths_and_distillation.ipynb", "train the teacher longer")
    t = zigzag.distill_targets(toy, run)
    per_filt = np.linalg.norm(np.asarray(t.filtered) - toy.pstar, axis=-1)
    per_teach = np.linalg.norm(np.asarray(t.teacher) - toy.pstar, axis=-1)
    filt, teach = float(per_filt.mean()), float(per_teach.mean())
    ratio = filt / teach
    interval = _bootstrap_ratio(per_filt, per_teach)
    return Verdict(
        claim, (TALK, ZIGZAG),
        ratio, "distance to p* of filtered targets / of the teacher's final predictions",
        interval, f"95% bootstrap interval over the {per_filt.size} training points (one teacher)",
        expected, "<= 0.9", status_of(interval, expected), "05_learning_paths_and_distillation.ipynb",
        f"filtered {filt:.3f}, teacher {teach:.3f}, one-hot "
        f"{zigzag.distance_to_pstar(t.onehot, toy.pstar):.3f} (memorized at epoch "
        f"{int(run.epochs[run.memorized_at])})")


@V.checked
def head_probing_verdict(seed: int = 0) -> Verdict:
    """Spearman correlation of energy at the start of fine-tuning with feature change after it."""
    data = finetune.digits_transfer(n_train=200)
    pre = finetune.pretrain_backbone(data, key=jax.random.key(seed), steps=400)
    sweep = finetune.tau_sweep(pre, data, key=jax.random.key(seed + 1), taus=(0, 30, 300, 3000),
                               seeds=3, ft_lr=0.5, ft_steps=200)
    energy = sweep.mean("energy")
    rho = sweep.spearman()
    per_seed = [finetune.spearman(e, f) for e, f in zip(sweep.energy, sweep.feature_change)]
    interval = (float(np.min(per_seed)), float(np.max(per_seed)))
    expected = (0.8, 1.0)
    change = sweep.mean("feature_change")
    return Verdict(
        "Stopping head probing early leaves energy for feature change", (TALK, HEAD),
        rho, "Spearman correlation over HP steps (0-3000) of seed-mean energy and feature change",
        interval, f"range of the per-seed correlations ({len(per_seed)} seeds)",
        expected, ">= 0.8 (energy falling with HP steps)",
        status_of(interval, expected, bool(np.all(np.diff(energy) < 0))),
        "06_how_to_prepare_your_task_head.ipynb",
        f"energy {energy[0]:.3f} -> {energy[-1]:.3f}, feature change {change[0]:.3f} -> {change[-1]:.3f}")


@V.checked
def data_scaling_verdict(seed: int = 0) -> Verdict:
    """Net vs its kernels' data-scaling exponents on load_digits (small MLP)."""
    curves = scaling.data_scaling(scaling.digits_task(), [16, 32, 64], key=jax.random.key(seed),
                                  width=64, steps=100, learners=("net", "entk_init", "ntk"))
    e = curves.exponents()
    best_kernel = max(e["entk_init"].alpha, e["ntk"].alpha)
    diff = e["net"].alpha - best_kernel
    interval = (e["net"].ci95[0] - best_kernel, e["net"].ci95[1] - best_kernel)
    return Verdict(
        "Trained nets scale better with data than their kernels", (SCALE,),
        diff, "alpha(net) - max(alpha(eNTK at init), alpha(NTK)), loss ~ n^-alpha, n = 16-64",
        interval, "the net's 95% CI minus the better kernel's exponent",
        (0.0, math.inf), "> 0", status_of(interval, (0.0, math.inf)),
        "07_data_scaling_beyond_the_kernel.ipynb",
        f"alpha net {e['net'].alpha:.2f} [{e['net'].ci95[0]:.2f}, {e['net'].ci95[1]:.2f}], "
        f"eNTK {e['entk_init'].alpha:.2f}, NTK {e['ntk'].alpha:.2f} (load_digits, width 64)")


@V.checked
def pntk_verdict(seed: int = 1) -> Verdict:
    """Relative gap ||eNTK - pNTK (x) I_k|| / ||eNTK|| at init vs width on 32 digits (k = 10)."""
    x = scaling.digits_task().x[:32]
    sweep = pntk_study.gap_vs_width(x, [64, 256, 1024, 4096], key=jax.random.key(seed), seeds=2,
                                    out_dim=10, depth=1)
    fit = sweep.fit
    expected = (-0.65, -0.35)
    return Verdict(
        "pNTK approximates the eNTK, gap falling like width^-1/2", (TALK, PNTK),
        fit.slope, "log-log slope of ||eNTK - pNTK x I|| / ||eNTK|| vs width (64-4096, k=10)",
        fit.ci95, "95% CI of the fit", expected, "about -1/2 (falling at every width step)",
        status_of(fit.ci95, expected, bool(np.all(np.diff(sweep.mean) < 0))),
        "08_pntk_and_active_learning.ipynb",
        f"gap {sweep.mean[0]:.3f} at width 64, {sweep.mean[-1]:.4f} at width 4096")


# ---------------------------------------------------------------------------
# notebook 09 (issue 13): where the kernel loses. One self-contained block; each verdict
# wraps a kernel_loses verdict (three outcomes: holds / does not hold / inconclusive).

LOSES_NB = "09_where_the_kernel_loses.ipynb"
LOSES_SIZES = (128, 256, 512, 1024, 2048)  # 5 sizes spanning 16x


def _from_outcome(o, measured_what: str, interval_what: str, expected: tuple,
                  expected_what: str) -> Verdict:
    """A tour verdict from a kernel_loses outcome (its status is kept: it was decided there
    from the same intervals)."""
    return Verdict(o.claim, (SCALE,), o.measured, measured_what, tuple(o.ci95), interval_what,
                   expected, expected_what, o.status, LOSES_NB, o.detail)


def index_scaling_verdict(seed: int = 0, seeds: int = 2, curves=None) -> Verdict:
    """Net vs kernel exponents on the single-index task, n = 128..2048 (intervals compared)."""
    curves = curves or kernel_loses.data_scaling(jax.random.key(seed), LOSES_SIZES, seeds=seeds,
                                                 learners=("net", "entk_init", "ntk"))
    o = kernel_loses.data_scaling_verdict(curves)
    return _from_outcome(o, "exponent of the trained net (single-index task, n = 128-2048)",
                         "95% CI of the fitted exponent", (o.against_ci95[1], math.inf),
                         "net's 95% interval above the best kernel's")


def kernel_keeps_moving_verdict(seed: int = 1, n: int = 2048) -> Verdict:
    """S(K0, Kt) when the loss reached 5% of its start, over its final value (rich net)."""
    rich = kernel_loses.kernel_path(jax.random.key(seed), n=n)
    lazy = kernel_loses.kernel_path(jax.random.key(seed), n=n,
                                    alpha=kernel_loses.DEFAULTS["lazy_alpha"])
    o = kernel_loses.kernel_moves_verdict(rich, lazy)
    return _from_outcome(o, "S(K0, Kt) at the 5%-loss step / final S(K0, Kt)",
                         "one run (S at that step)", (0.0, 0.85),
                         "<= 0.85 (and the lazy net's final S <= 0.01)")


def pretrained_catch_up_verdict(seed: int = 0, seeds: int = 2, n_pre: int = 512) -> Verdict:
    """Exponent of the eNTK after pretraining on ``n_pre`` samples against the net's."""
    curves = kernel_loses.data_scaling(jax.random.key(seed), LOSES_SIZES, seeds=seeds,
                                       learners=("net", "pretrained"), n_pre=n_pre)
    o = kernel_loses.pretrained_kernel_verdict(curves, curves)
    return _from_outcome(o, f"exponent of the eNTK pretrained on {n_pre} samples",
                         "95% CI of the fitted exponent", (-math.inf, o.against_ci95[0]),
                         "interval wholly below the net's")


def kernel_loses_verdicts(seed: int = 0) -> list[Verdict]:
    """The three verdicts of notebook 09 (about 1-2 minutes on 2 CPU cores)."""
    return [index_scaling_verdict(seed), kernel_keeps_moving_verdict(seed + 1),
            pretrained_catch_up_verdict(seed)]


@V.checked
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
