"""The tour: each claim of the source documents, with a verdict measured live at small scale.

Every ``*_verdict`` function runs the topic module behind one notebook at the
smallest settings that module's tests already validate, and turns the number it
measures into a :class:`Verdict`. Nothing is hard-coded except the expected
ranges (the claims themselves). :func:`run_all` returns every verdict; the
three width claims share one feature sweep (pass ``sweeps=`` to reuse it).

Run it in float64 (``jax.config.update("jax_enable_x64", True)``) to get the
verdicts the unit tests assert; notebook ``00_start_here`` does so.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import platform
from importlib import resources

import jax

from ..core import validation as V
from ..core.verdicts import (
    ISSUES,
    LW,
    MUP,
    SCALE,
    SOURCES,
    STATUSES,
    TALK,
    Source,
    Verdict,
    judge,
    status_of,
)
from . import features, finetune, kernel_loses, natural, ntk_table, pntk_study, transfer, zigzag

__all__ = ["Verdict", "feature_sweeps", "feature_motion_verdict", "mup_verdict", "entk_motion_verdict",
           "transfer_verdict", "gp_ntk_tie_verdict", "distillation_verdict", "head_probing_verdict",
           "data_scaling_verdict", "pntk_verdict", "run_all", "STATUSES", "Source", "SOURCES",
           "status_of", "index_scaling_verdict", "kernel_keeps_moving_verdict",
           "pretrained_catch_up_verdict", "kernel_loses_verdicts", "judge",
           "ISSUES", "LW", "MUP", "SCALE", "TALK", "SavedTour", "save_verdicts", "saved_verdicts",
           "SAVED_TOUR"]

# ---------------------------------------------------------------------------
# width claims (notebook 03): one sweep per parametrization, shared by three verdicts

FEATURE_WIDTHS = features.TOUR["widths"]


@V.checked
def feature_sweeps(key: V.Key | None = None, *, steps: V.NonNegativeInt = features.TOUR["steps"],
                   seeds: V.PositiveInt = features.TOUR["seeds"]) -> dict:
    """``{'ntk': FeatureSweep, 'mup': FeatureSweep}``: notebook 03's task and nets
    (:func:`features.claim_sweeps`) at the tour's smaller settings (:data:`FEATURE_WIDTHS`,
    ``features.TOUR``; float32, as in ``tests/test_features.py``)."""
    return features.claim_sweeps(key, widths=FEATURE_WIDTHS, seeds=seeds, steps=steps)


@V.checked
def feature_motion_verdict(sweeps: dict) -> Verdict:
    """Hidden-feature change vs width under NTK parametrization (notebook 03's verdict function)."""
    return features.features_ntk_verdict(sweeps)


@V.checked
def mup_verdict(sweeps: dict) -> Verdict:
    """muP keeps hidden features moving at large width (notebook 03's verdict function)."""
    return features.features_mup_verdict(sweeps)


@V.checked
def entk_motion_verdict(sweeps: dict) -> Verdict:
    """Relative eNTK change after training falls with width (notebook 03's verdict function)."""
    return features.entk_motion_verdict(sweeps)


# ---------------------------------------------------------------------------
# other notebooks


@V.checked
def transfer_verdict(key: V.Key | None = None) -> Verdict:
    """Linearized-at-init transfer: benefit for +B, harm for -B (sign flip), over
    ``transfer.SIGN_FLIP``'s sizes and seeds: notebook 04's run and verdict function."""
    return transfer.transfer_sign_verdict(transfer.sign_flip_run(key))


@V.checked
def gp_ntk_tie_verdict(trials: V.PositiveInt = 6, n: V.PositiveInt = 300,
                       seed: V.NonNegativeInt = 11342) -> Verdict:
    """GP1 vs NTKB1 regression error, as coded in the published table's code (paired over
    trials): notebook 02's verdict function (:func:`ntk_table.gp_ntk_tie_verdict`)."""
    return ntk_table.gp_ntk_tie_verdict(trials=trials, n=n, seed=seed)


@V.checked
def distillation_verdict(seed: V.NonNegativeInt = 0, epochs: V.PositiveInt = 200) -> Verdict:
    """Filtered (moving-average) teacher targets vs the teacher's predictions, by distance to
    p*: :func:`zigzag.distillation_verdict` over its ten tasks and teachers (notebook 05
    prints the same call)."""
    return zigzag.distillation_verdict(seed, epochs)


@V.checked
def head_probing_verdict(seed: V.NonNegativeInt = 0) -> Verdict:
    """Spearman correlation of energy at the start of fine-tuning with feature change after
    it: :func:`finetune.head_probing_verdict` at its small setting (``finetune.TOUR_SWEEP``)."""
    return finetune.head_probing_verdict(seed=seed)


@V.checked
def data_scaling_verdict(seed: V.NonNegativeInt = 0) -> Verdict:
    """The rich MLP's data-scaling exponent against the infinite NTK's on real digits, paired
    per seed: notebook 07's verdict function (:func:`natural.rich_vs_ntk_verdict`) at the small
    setting :data:`natural.TOUR` (3 seeds, n = 50-400, width 128; about 10 s on 2 cores)."""
    curves = natural.digits_scaling(key=jax.random.key(seed), **natural.TOUR)
    return natural.rich_vs_ntk_verdict(curves)


@V.checked
def pntk_verdict(seed: V.NonNegativeInt = 1) -> Verdict:
    """Relative gap ||eNTK - pNTK (x) I_k|| / ||eNTK|| at init vs width on 32 digits (k = 10):
    :func:`pntk_study.pntk_verdict` at its settings (notebook 08 judges the same sweep)."""
    return pntk_study.pntk_verdict(pntk_study.verdict_sweep(seed=seed))


# ---------------------------------------------------------------------------
# notebook 09 (issue 13): where the kernel loses. One self-contained block; each verdict
# wraps a kernel_loses verdict (three outcomes: holds / does not hold / inconclusive).

LOSES_NB = "09_where_the_kernel_loses.ipynb"
LOSES_SIZES = kernel_loses.NOTEBOOK_RUN["sizes"]  # notebook 09's sizes (128..2048)


def index_scaling_verdict(seed: int = 0, curves=None) -> Verdict:
    """Net vs kernel exponents on the single-index task at notebook 09's settings
    (``kernel_loses.NOTEBOOK_RUN``, ``key(seed)``): the same call, so the same verdict."""
    if curves is None:
        curves, _ = kernel_loses.scaling_curves(jax.random.key(seed), learners=("net", "entk_init"))
    return kernel_loses.data_scaling_verdict(curves)


def kernel_keeps_moving_verdict(seed: int = 1, paths=None) -> Verdict:
    """The after-kernel's test error when the loss first reached 5% of its start, over its
    final value, over notebook 09's seeds (``kernel_loses.verdict_paths``)."""
    if paths is None:
        paths = kernel_loses.verdict_paths(jax.random.key(seed))
    return kernel_loses.kernel_moves_verdict(paths)


def pretrained_catch_up_verdict(seed: int = 0, curves=None) -> Verdict:
    """Exponent of the eNTK after pretraining (notebook 09's largest ``n_pre``) against the net's."""
    if curves is None:
        curves, _ = kernel_loses.scaling_curves(jax.random.key(seed), learners=("net", "pretrained"))
    return kernel_loses.pretrained_kernel_verdict(curves, curves)


def kernel_loses_verdicts(seed: int = 0) -> list[Verdict]:
    """The three verdicts of notebook 09 at its settings (one data-scaling run shared by the
    first and the last; about a minute on 2 CPU cores)."""
    curves, _ = kernel_loses.scaling_curves(jax.random.key(seed),
                                            learners=("net", "entk_init", "pretrained"))
    return [index_scaling_verdict(seed, curves), kernel_keeps_moving_verdict(seed + 1),
            pretrained_catch_up_verdict(seed, curves)]


@V.checked
def run_all(key: V.Key | None = None, *, free_compiled: bool = True,
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


# ---------------------------------------------------------------------------
# a saved, dated run of every verdict (package data), for the start page

SAVED_TOUR = "tour_verdicts.json"
"""File name, in the package's ``data`` folder, of the last full tour run."""


@dataclasses.dataclass(frozen=True)
class SavedTour:
    """A tour run read back: when and where it ran, how long it took, its verdicts."""

    date: str
    machine: str
    seconds: float
    verdicts: tuple[Verdict, ...]


def save_verdicts(verdicts, path, *, seconds: float) -> dict:
    """Write ``verdicts`` with today's date and this machine's description to ``path``
    (JSON); returns what was written."""
    data = {"date": datetime.date.today().isoformat(),
            "machine": f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}",
            "seconds": round(float(seconds), 1), "verdicts": [v.as_dict() for v in verdicts]}
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
    return data


def _verdict_from(d: dict) -> Verdict:
    by_title = {s.title: s for s in SOURCES}
    d = dict(d, sources=tuple(by_title[t] for t in d["sources"]),
             interval=tuple(d["interval"]), expected=tuple(d["expected"]))
    return Verdict(**d)


def saved_verdicts(path=None) -> SavedTour:
    """The saved tour run shipped with the package (or the one at ``path``)."""
    if path is None:
        text = resources.files("ntk_explore").joinpath("data", SAVED_TOUR).read_text()
    else:
        with open(path) as f:
            text = f.read()
    data = json.loads(text)
    return SavedTour(data["date"], data["machine"], float(data["seconds"]),
                     tuple(_verdict_from(v) for v in data["verdicts"]))
