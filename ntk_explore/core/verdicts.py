"""One rule for every verdict: the claims, where they come from, and how a measurement is judged.

Every claim the package tests is one :class:`Claim` in :data:`CLAIMS`: its text, its
sources, the range of a measured quantity that the claim predicts, and a sentence on
why that range (the threshold) was chosen. A topic module measures a quantity and an
interval around it; :func:`judge` turns them into a :class:`Verdict` with three outcomes:

* ``'holds'`` -- the whole interval lies inside the claimed range (and any side
  condition the caller passes is met);
* ``'does not hold'`` -- the interval lies wholly outside the range, or a side
  condition fails, or the measurement is not finite;
* ``'inconclusive'`` -- the interval straddles an end of the range: this run cannot tell.

Comparisons of two learners are judged the same way: the measured quantity is their
difference (e.g. of data-scaling exponents) with the interval of that difference, and
the claimed range is one side of zero. The tour (notebook 00) and each notebook call the
same topic function, which calls :func:`judge`, so the same claim at the same settings
gets the same verdict everywhere.
"""

from __future__ import annotations

import dataclasses
import math

__all__ = ["Source", "Claim", "Verdict", "CLAIMS", "SOURCES", "STATUSES", "judge", "status_of",
           "range_text", "LW", "SCALE", "ISSUES", "TALK", "MUP", "ZIGZAG", "HEAD", "PNTK",
           "FORT", "BARATIN", "BA", "BARAK", "ARORA_CNTK",
           "JACOT", "ARORA", "LEE_LINEAR", "DYER"]

STATUSES = ("holds", "does not hold", "inconclusive")
INF = math.inf


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

    @property
    def markdown(self) -> str:
        """``Authors (year), [Title](url), venue`` for a notebook's text."""
        return f"{self.authors} ({self.year}), [{self.title}]({self.url}), {self.venue}"


# The four documents the package grew from.
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
# Papers behind the claims the package measures.
MUP = Source("Greg Yang, Edward J. Hu", "Tensor Programs IV: Feature Learning in Infinite-Width Neural "
             "Networks", 2021, "ICML 2021, arXiv:2011.14522", "https://arxiv.org/abs/2011.14522")
ZIGZAG = Source("Yi Ren, Shangmin Guo, Danica J. Sutherland", "Better Supervisory Signals by Observing "
                "Learning Paths", 2022, "ICLR 2022, arXiv:2203.02485", "https://arxiv.org/abs/2203.02485")
HEAD = Source("Yi Ren, Shangmin Guo, Wonho Bae, Danica J. Sutherland", "How to prepare your task head "
              "for finetuning", 2023, "ICLR 2023, arXiv:2302.05779", "https://arxiv.org/abs/2302.05779")
PNTK = Source("Mohamad Amin Mohamadi, Wonho Bae, Danica J. Sutherland", "A Fast, Well-Founded "
              "Approximation to the Empirical Neural Tangent Kernel", 2023, "ICML 2023, arXiv:2206.12543",
              "https://arxiv.org/abs/2206.12543")
FORT = Source("Stanislav Fort, Gintare Karolina Dziugaite, Mansheej Paul, Sepideh Kharaghani, "
              "Daniel M. Roy, Surya Ganguli", "Deep learning versus kernel learning: an empirical "
              "study of loss landscape geometry and the time evolution of the Neural Tangent Kernel",
              2020, "NeurIPS 2020, arXiv:2010.15110", "https://arxiv.org/abs/2010.15110")
BARATIN = Source("Aristide Baratin, Thomas George, C\u00e9sar Laurent, R Devon Hjelm, Guillaume Lajoie, "
                 "Pascal Vincent, Simon Lacoste-Julien", "Implicit Regularization via Neural Feature "
                 "Alignment", 2021, "AISTATS 2021, arXiv:2008.00938", "https://arxiv.org/abs/2008.00938")
BA = Source("Jimmy Ba, Murat A. Erdogdu, Taiji Suzuki, Zhichao Wang, Denny Wu, Greg Yang",
            "High-dimensional Asymptotics of Feature Learning: How One Gradient Step Improves the "
            "Representation", 2022, "NeurIPS 2022, arXiv:2205.01445", "https://arxiv.org/abs/2205.01445")
BARAK = Source("Boaz Barak, Benjamin L. Edelman, Surbhi Goel, Sham Kakade, Eran Malach, Cyril Zhang",
               "Hidden Progress in Deep Learning: SGD Learns Parities Near the Computational Limit",
               2022, "NeurIPS 2022, arXiv:2207.08799", "https://arxiv.org/abs/2207.08799")
ARORA_CNTK = Source("Sanjeev Arora, Simon S. Du, Zhiyuan Li, Ruslan Salakhutdinov, Ruosong Wang, "
                    "Dingli Yu", "Harnessing the Power of Infinitely Wide Deep Nets on Small-data "
                    "Tasks", 2020, "ICLR 2020, arXiv:1910.01663", "https://arxiv.org/abs/1910.01663")
# The equivalence of a wide net and its tangent kernel (notebooks 01-02).
JACOT = Source("Arthur Jacot, Franck Gabriel, Cl\u00e9ment Hongler", "Neural Tangent Kernel: Convergence "
               "and Generalization in Neural Networks", 2018, "NeurIPS 2018, arXiv:1806.07572",
               "https://arxiv.org/abs/1806.07572")
ARORA = Source("Sanjeev Arora, Simon S. Du, Wei Hu, Zhiyuan Li, Ruslan Salakhutdinov, Ruosong Wang",
               "On Exact Computation with an Infinitely Wide Neural Net", 2019,
               "NeurIPS 2019, arXiv:1904.11955", "https://arxiv.org/abs/1904.11955")
LEE_LINEAR = Source("Jaehoon Lee, Lechao Xiao, Samuel S. Schoenholz, Yasaman Bahri, Roman Novak, "
                    "Jascha Sohl-Dickstein, Jeffrey Pennington", "Wide Neural Networks of Any Depth "
                    "Evolve as Linear Models Under Gradient Descent", 2019,
                    "NeurIPS 2019, arXiv:1902.06720", "https://arxiv.org/abs/1902.06720")
DYER = Source("Ethan Dyer, Guy Gur-Ari", "Asymptotics of Wide Networks from Feynman Diagrams", 2020,
              "ICLR 2020, arXiv:1909.11304", "https://arxiv.org/abs/1909.11304")
SOURCES = (LW, SCALE, ISSUES, TALK, MUP, ZIGZAG, HEAD, PNTK, FORT, BARATIN, BA, BARAK, ARORA_CNTK,
           JACOT, ARORA, LEE_LINEAR, DYER)
"""Every source cited by a claim; the first four are the documents the package grew from."""


@dataclasses.dataclass(frozen=True)
class Claim:
    """A claim of the sources, stated as a range for one measurable quantity.

    ``expected = (lo, hi)`` is the closed range the claim predicts (``-inf``/``inf`` for
    a one-sided claim); ``expected_what`` says it in words; ``why`` is the reason for
    that threshold, printed beside every verdict.
    """

    key: str
    text: str
    sources: tuple[Source, ...]
    expected: tuple[float, float]
    expected_what: str
    why: str
    notebook: str


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What was measured for one :class:`Claim`, and the outcome of :func:`judge`.

    ``measured`` is the quantity; ``interval`` the range the verdict rests on (a 95%
    interval, or a range over seeds/sizes, as ``interval_what`` says); ``status`` one of
    :data:`STATUSES`; ``detail`` the numbers behind it in words.
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
    why: str = ""
    key: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def in_range(self) -> bool:
        return bool(math.isfinite(self.measured) and self.expected[0] <= self.measured <= self.expected[1])

    @property
    def summary(self) -> str:
        """``'holds: -0.48, 95% CI [-0.55, -0.41]; claim in [-0.6, -0.35]'``."""
        lo, hi = self.interval
        return (f"{self.status}: {self.measured:.3g}, {self.interval_what} [{lo:.3g}, {hi:.3g}]; "
                f"claim {range_text(*self.expected)}")

    def as_dict(self) -> dict:
        """Plain values (for saving a run): sources as their titles."""
        d = dataclasses.asdict(self)
        d["sources"] = [s.title for s in self.sources]
        return d


def range_text(lo: float, hi: float) -> str:
    """``'< 0'``, ``'> 0'`` or ``'in [-0.6, -0.35]'``."""
    if lo == -INF:
        return f"< {hi:g}"
    if hi == INF:
        return f"> {lo:g}"
    return f"in [{lo:g}, {hi:g}]"


def status_of(interval: tuple[float, float], expected: tuple[float, float], extra: bool = True) -> str:
    """The rule: where the measured interval lies relative to the claimed range."""
    lo, hi = interval
    if not (math.isfinite(lo) and math.isfinite(hi)) or not extra:
        return "does not hold"
    if expected[0] <= lo and hi <= expected[1]:
        return "holds"
    if hi < expected[0] or lo > expected[1]:
        return "does not hold"
    return "inconclusive"


def judge(key: str, measured: float, interval: tuple[float, float], *, measured_what: str,
          interval_what: str, extra: bool = True, detail: str = "") -> Verdict:
    """The verdict on claim ``CLAIMS[key]`` for a measured quantity and its interval.

    ``extra`` is a side condition named in the claim's ``expected_what`` (e.g. "and the
    feature change at the widest net is above 0.1"); when it is false the claim does not
    hold whatever the interval says.
    """
    if key not in CLAIMS:
        raise KeyError(f"unknown claim {key!r}; the claims are {sorted(CLAIMS)}")
    c = CLAIMS[key]
    interval = (float(interval[0]), float(interval[1]))
    return Verdict(c.text, c.sources, float(measured), measured_what, interval, interval_what,
                   c.expected, c.expected_what, status_of(interval, c.expected, bool(extra)),
                   c.notebook, detail, c.why, key)


def _claims(*claims: Claim) -> dict[str, Claim]:
    return {c.key: c for c in claims}


CLAIMS = _claims(
    Claim("features_ntk", "Hidden features move O(1/sqrt(width)) in NTK parametrization", (LW, MUP),
          (-0.6, -0.35), "slope about -1/2",
          "Theory gives -1/2; the band is wide enough for the finite-width bend of a fit over one "
          "decade of widths and still excludes 0 (muP's prediction) and -1 (the kernel's own motion).",
          "03_lazy_vs_feature_learning.ipynb"),
    Claim("features_mup", "muP keeps hidden features moving as width grows", (LW, MUP),
          (-0.15, 0.15), "slope about 0, and feature change > 0.1 at the widest net",
          "Theory gives 0; a band of +-0.15 is under a third of the way to NTK's -1/2, so a slope "
          "inside it cannot be the lazy scaling, and a change above 0.1 rules out features that "
          "are flat only because they never move.",
          "03_lazy_vs_feature_learning.ipynb"),
    Claim("entk_motion", "The eNTK stays nearly constant in wide nets and moves in narrow ones",
          (SCALE, LW), (-1.5, -0.5), "slope about -1, and less motion at the widest width than the narrowest",
          "The relative change of the kernel over training scales like 1/width in NTK "
          "parametrization (slope -1); +-0.5 keeps the band clear of 0, a kernel that does not "
          "settle as the net widens.",
          "03_lazy_vs_feature_learning.ipynb"),
    Claim("transfer_sign", "Transfer through a fixed kernel only shifts the starting point (flip "
          "the target and it hurts)", (LW,), (-INF, 0.0),
          "benefit < 0 for the flipped target -B (and > 0 for +B at every size)",
          "The claim is a sign: a fixed kernel can only carry over the starting function, which "
          "helps a task that agrees with it and hurts one that is its negative.",
          "04_transfer_through_a_fixed_kernel.ipynb"),
    Claim("gp_ntk_tie", "GP and NTK regression tie in the published table", (ISSUES,),
          (-0.1, 0.1), "within +-10% of each other",
          "The published table's two kernels differ by under 1%, and the smallest gap it draws a "
          "conclusion from (Laplacian vs NTK) is about 65%; 10% separates a tie from a real gap.",
          "02_is_a_trained_net_its_ntk.ipynb"),
    Claim("laplacian_gap", "A kernel unrelated to networks (Laplacian) predicts clearly worse than "
          "the NTK in the published table", (ISSUES,), (0.1, INF),
          "(RMSE(Laplacian) - RMSE(NTKB1)) / RMSE(NTKB1) > 0.1",
          "The same 10% that separates a tie from a real gap in the GP-vs-NTK claim, so the two "
          "claims about the one table use one line.",
          "02_is_a_trained_net_its_ntk.ipynb"),
    Claim("entk_convergence", "The eNTK at initialisation approaches the infinite-width NTK, its "
          "relative error falling like width^-1/2", (JACOT,), (-0.6, -0.4),
          "slope about -1/2 (log relative error against log width)",
          "Each eNTK entry averages width-many terms that are independent at initialisation (exactly "
          "so for one hidden layer), so by the central limit theorem its spread around the limit "
          "shrinks like width^-1/2; +-0.1 allows the bend of a fit that starts at narrow widths and "
          "still excludes 0 (no convergence) and -1 (the rate at which training moves the kernel).",
          "01_entk_vs_width.ipynb"),
    Claim("kernel_motion_ntk", "Training moves an NTK-parametrized net's eNTK less the wider the "
          "net, like 1/width", (JACOT, DYER), (-1.5, -0.5),
          "slope about -1 (log relative eNTK change over training against log width)",
          "The kernel's change during training is an average over hidden units of changes whose "
          "leading part has mean zero, which leaves 1/width (Dyer and Gur-Ari); -0.5 is the weaker "
          "rate the early proofs bound it by, so a slope below it shows the faster rate, and the "
          "band stays clear of 0, a kernel that does not settle as the net widens.",
          "02_is_a_trained_net_its_ntk.ipynb"),
    Claim("kernel_motion_mup", "muP moves its eNTK more than NTK parametrization does, the more so "
          "the wider the net", (MUP, LW), (0.0, INF),
          "slope(muP) - slope(NTK) > 0 (kernel motion against width, paired by seed)",
          "muP keeps each hidden unit's update from shrinking with width, so its kernel motion must "
          "fall more slowly than NTK parametrization's; the claim is a sign, zero is the threshold "
          "and the interval of the paired difference decides.",
          "02_is_a_trained_net_its_ntk.ipynb"),
    Claim("net_to_ntk", "A wide NTK-parametrized net trained by gradient descent approaches kernel "
          "regression with its infinite-width NTK", (JACOT, ARORA, LEE_LINEAR), (-0.75, -0.25),
          "slope about -1/2 (log RMS distance between net and NTK learner against log width)",
          "From the same initial function, the gap between the net and the NTK learner is led by the "
          "eNTK's spread at initialisation, which falls like width^-1/2 (notebook 01); +-0.25 allows "
          "the smaller 1/width part from the kernel's motion and excludes 0, a net that does not "
          "approach its kernel.",
          "02_is_a_trained_net_its_ntk.ipynb"),
    Claim("filtered_distillation", "Filtered distillation targets sit closer to p* than the "
          "teacher's", (TALK, ZIGZAG), (0.0, 1.0),
          "distance ratio < 1 (filtered targets closer to p* than the teacher's predictions)",
          "The claim is a direction: a ratio below 1 means the moving average is closer to the "
          "true probabilities p*. The interval is a t-interval over independently drawn tasks "
          "and teachers, so the task-to-task spread (tasks with little label noise gain "
          "little) is in it; one teacher's own training points would hide that spread.",
          "05_learning_paths_and_distillation.ipynb"),
    Claim("zigzag_flags_noise", "Mislabelled training points zig-zag more than easy ones",
          (TALK, ZIGZAG), (0.8, 1.0), "AUC >= 0.8 for every teacher (0.5 = chance)",
          "The AUC is the chance that a random mislabelled point has a longer detour than a "
          "random easy one: 0.5 is chance, 1 a perfect split. 0.8 (four times in five) asks "
          "for a separation strong enough to flag suspect labels from the path alone, "
          "without knowing p*; every teacher's AUC must clear it.",
          "05_learning_paths_and_distillation.ipynb"),
    Claim("entk_one_step", "One gradient step changes the predictions by eta x eNTK x residual, "
          "up to O(eta^2)", (TALK, ZIGZAG), (1.8, 2.2), "slope about 2",
          "The eNTK formula is the first-order Taylor expansion in the step size, so its error "
          "shrinks like eta^2, slope 2 on log-log axes; +-0.2 excludes slope 1 (a formula wrong "
          "already at first order) and slope 3 (one also right at second order).",
          "05_learning_paths_and_distillation.ipynb"),
    Claim("head_probing", "Stopping head probing early leaves energy for feature change",
          (TALK, HEAD), (0.8, 1.0), "Spearman >= 0.8 for every seed (and energy falling with "
          "probing steps)",
          "The claim is an ordering: less energy, less feature change. Spearman's rho is 1 for "
          "a perfectly monotone relation; 0.8 still accepts a few swapped neighbours (one swap "
          "with 4 probing lengths, up to five with 7) and rejects a weak or absent trend. "
          "Every seed's own correlation must clear it.",
          "06_how_to_prepare_your_task_head.ipynb"),
    Claim("feature_step_entk", "The first fine-tuning step moves the features by eNTK x "
          "direction x energy, up to O(eta^2)", (TALK, HEAD), (1.8, 2.2), "slope about 2",
          "The decomposition is the first-order Taylor expansion of the features in the step "
          "size, so its error shrinks like eta^2, slope 2 on log-log axes; +-0.2 excludes "
          "slope 1 (wrong at first order) and slope 3.",
          "06_how_to_prepare_your_task_head.ipynb"),
    Claim("data_scaling_digits", "A feature-learning net out-scales its infinite-width NTK on "
          "real digits", (SCALE,), (0.0, INF),
          "exponent difference > 0 (rich MLP minus infinite NTK, test MSE, paired per seed)",
          "The claim is a sign: a net that out-scales its kernel has the larger exponent, so zero "
          "is the threshold and the interval over seeds decides. The infinite NTK is the "
          "strictest of the MLP's kernels here: its exponent is above the eNTK's at init.",
          "07_data_scaling_beyond_the_kernel.ipynb"),
    Claim("rich_vs_lazy_digits", "On real digits the output scale alone decides whether the net "
          "out-scales its lazy twin", (SCALE, LW), (0.0, INF),
          "exponent difference > 0 (rich MLP minus the same MLP at gamma = 1, paired per seed)",
          "Same net, init, data, optimizer and stopping rule: only the output scale differs, so "
          "any exponent above zero is the effect of features moving; zero is the threshold.",
          "07_data_scaling_beyond_the_kernel.ipynb"),
    Claim("lazy_control_digits", "On real digits the lazy net does not out-scale its eNTK",
          (SCALE, LW), (-INF, 0.05),
          "exponent difference < 0.05 (MLP at gamma = 1 minus its eNTK at init, paired per seed)",
          "A net at output scale 1 trains close to its linearization, whose kernel is the eNTK "
          "at init; 0.05 is a third of the margin by which the rich net beats that eNTK, so a "
          "lazy net below it has not gained what the rich net gains. Scaling worse than the "
          "kernel is allowed: the finite net carries its own kernel's fluctuations and stops "
          "early, which is not feature learning.",
          "07_data_scaling_beyond_the_kernel.ipynb"),
    Claim("cntk_small_data", "At small data a CNN's infinite-width kernel beats the trained CNN",
          (ARORA_CNTK,), (0.0, INF),
          "log(test MSE of the trained CNN / of its CNTK) > 0 at the largest n (paired per seed)",
          "The claim is a sign: the kernel is the better learner when its test MSE is lower on "
          "the same split, so zero (a ratio of 1) is the threshold.",
          "07_data_scaling_beyond_the_kernel.ipynb"),
    Claim("pntk_gap", "pNTK approximates the eNTK, gap falling like width^-1/2", (TALK, PNTK),
          (-0.65, -0.35), "slope about -1/2 (falling at every width step)",
          "The pNTK's error is a sum of width-many zero-mean terms, so it falls like width^-1/2; "
          "+-0.15 allows the fit's finite-width bend and excludes -1 and 0.",
          "08_pntk_and_active_learning.ipynb"),
    Claim("index_scaling", "A feature-learning net out-scales its kernels on a single-index task",
          (SCALE, BA), (0.0, INF), "exponent difference > 0 (net minus its best kernel)",
          "The claim is a sign: zero is the threshold and the interval of the difference decides.",
          "09_where_the_kernel_loses.ipynb"),
    Claim("lazy_control", "The lazy control does not out-scale its kernel", (SCALE, LW),
          (-INF, 0.15), "exponent difference < 0.15 (lazy net minus the eNTK at init)",
          "The control asks whether freezing the features removes the rich net's advantage. A "
          "net with a large output scale trains like its linearization at init, i.e. with the "
          "eNTK at init; 0.15 is a quarter of the gap between the rich net's and the kernels' "
          "exponents on this task (about 0.7). Scaling worse than the kernel is allowed: the "
          "lazy net interpolates with no ridge chosen on validation, so its error is ragged in "
          "n, which is not feature learning.",
          "09_where_the_kernel_loses.ipynb"),
    Claim("kernel_keeps_moving", "The eNTK keeps evolving through most of training", (SCALE, FORT),
          (1.0, INF), "after-kernel test error at the 5%-loss step / at the end > 1",
          "Ridge with a kernel that had stopped changing when the loss first reached 5% of its "
          "start would predict then exactly as at the end (ratio 1); a ratio above 1 means the "
          "kernel kept changing after the loss had fallen, in a way that matters for prediction. "
          "The cosine distance S(K0, Kt) is not used: it levels off within tens of steps and "
          "stays flat while the after-kernel still improves.",
          "09_where_the_kernel_loses.ipynb"),
    Claim("pretrained_catch_up", "An eNTK pretrained on a few samples does not catch up with the net",
          (SCALE,), (0.0, INF), "exponent difference > 0 (net minus pretrained eNTK)",
          "The claim is a sign: zero is the threshold and the interval of the difference decides.",
          "09_where_the_kernel_loses.ipynb"),
)
"""Every claim the package measures, keyed by a short name."""
