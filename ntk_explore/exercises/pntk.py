"""Exercises of notebook 08: the pNTK from the eNTK's blocks, and the look-ahead change.

**pNTK from the blocks.** A net with ``k`` outputs has eNTK blocks
``Theta(x, x')_{cc'} = grad f_c(x) . grad f_c'(x')``, an ``(n1, n2, k, k)`` array. The
sum-of-logits pNTK is the tangent kernel of the one scalar ``g = sum_c f_c / sqrt(k)``::

    pNTK(x, x') = grad g(x) . grad g(x') = (1/k) sum_{c, c'} Theta(x, x')_{cc'}

(every pair of outputs, the cross terms ``c != c'`` included). The checker builds the
blocks of a small random one-hidden-layer net from its explicit per-output Jacobians and
compares the reader's answer with the pNTK computed by a different route: the Jacobian of
``g`` formed first, then multiplied (``tests/test_exercises_pntk.py`` checks both against
the library's :func:`~ntk_explore.core.kernels.empirical_ntk` and
:func:`~ntk_explore.core.kernels.pntk`). All in NumPy, so a check takes milliseconds.

**The look-ahead change.** Kernel regression through the labelled set ``L`` predicts
``K(E, L) K(L, L)^-1 r_L`` on evaluation points ``E`` (``r``: residuals ``y - f``).
Labelling one more point ``c`` changes that to the same formula over ``L + {c}``; the
change is the look-ahead. The reader computes it by solving both systems; the checker
compares with the rank-one update of :func:`ntk_explore.topics.active.lookahead_delta`,
which never re-solves.
"""

from __future__ import annotations

import numpy as np

from ..topics.active import lookahead_delta, lookahead_prepare
from . import Feedback, compare, register, run_answer

__all__ = ["two_layer", "jacobians", "pntk_problem", "check_pntk_from_entk", "lookahead_problem",
           "reference_lookahead", "check_lookahead_change"]


def two_layer(w, v, x):
    """``f(x) = V relu(W x / sqrt(d)) / sqrt(h)``: ``W (h, d)``, ``V (k, h)``, ``x (n, d)`` -> ``(n, k)``."""
    h, d = w.shape
    return np.maximum(x @ w.T / np.sqrt(d), 0) @ v.T / np.sqrt(h)


def jacobians(w, v, x) -> np.ndarray:
    """Explicit Jacobians of :func:`two_layer`'s outputs: ``(k, n, P)`` with ``P = h d + k h``
    (``W`` flattened, then ``V``)."""
    (h, d), k, n = w.shape, v.shape[0], x.shape[0]
    pre = x @ w.T / np.sqrt(d)  # (n, h)
    on, feat = (pre > 0).astype(float), np.maximum(pre, 0) / np.sqrt(h)
    jw = v[:, None, :, None] * on[None, :, :, None] * x[None, :, None, :] / np.sqrt(d * h)  # (k, n, h, d)
    jv = np.einsum("ce,nh->cneh", np.eye(k), feat)  # (k, n, k, h): output c moves with row c of V
    return np.concatenate([jw.reshape(k, n, h * d), jv.reshape(k, n, k * h)], axis=2)


def pntk_problem(seed: int, k: int, *, n1: int = 5, n2: int = 4, d: int = 3, width: int = 16):
    """eNTK blocks ``(n1, n2, k, k)`` of a random :func:`two_layer` net, and its pNTK
    ``(n1, n2)`` from the Jacobian of ``g = sum_c f_c / sqrt(k)`` formed first (float64)."""
    rng = np.random.default_rng(seed)
    w, v = rng.standard_normal((width, d)), rng.standard_normal((k, width))
    x1, x2 = rng.standard_normal((n1, d)), rng.standard_normal((n2, d))
    j1, j2 = jacobians(w, v, x1), jacobians(w, v, x2)  # (k, n, P)
    theta = np.einsum("anp,bmp->nmab", j1, j2)
    g1, g2 = j1.sum(0) / np.sqrt(k), j2.sum(0) / np.sqrt(k)  # Jacobians of g: (n, P)
    return theta, g1 @ g2.T


def _near(got, want) -> bool:
    try:
        got = np.asarray(got, np.float64)
    except (TypeError, ValueError):
        return False
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-6, atol=1e-12))


def _pntk_slip(got, theta: np.ndarray) -> str | None:
    """Name a usual slip when ``got`` equals one of them, else ``None``."""
    k = theta.shape[-1]
    total = theta.sum(axis=(2, 3))
    trace = np.trace(theta, axis1=2, axis2=3)
    slips = (
        (total, f"you summed every block entry but did not divide by k = {k}: the scalar output "
                "is sum_c f_c / sqrt(k), and both of its gradients carry that 1/sqrt(k)"),
        (total / np.sqrt(k), "you divided by sqrt(k) once; the kernel multiplies two gradients, "
                             "each with a factor 1/sqrt(k), so divide by k"),
        (trace / k, "you kept only the diagonal blocks c = c' (the trace over outputs); the "
                    "gradient of the summed output also has the cross terms grad f_c . grad f_c' "
                    "for c != c'"),
        (trace, "you kept only the diagonal blocks c = c' and did not divide by k; the cross "
                "terms c != c' belong in the sum too"),
        (theta[:, :, 0, 0], "that is the first-logit pNTK (the kernel of f_1 alone); this "
                            "exercise asks for the sum of logits, sum_c f_c / sqrt(k)"),
    )
    for value, message in slips:
        if _near(got, value):
            return message
    return None


@register("pntk_from_entk", "08_pntk_and_active_learning.ipynb",
          "Write pntk(theta) -> (n1, n2): the sum-of-logits pNTK from eNTK blocks "
          "theta (n1, n2, k, k).")
def check_pntk_from_entk(answer) -> Feedback:
    """Check ``answer(theta (n1, n2, k, k)) -> (n1, n2)`` on two random nets (k = 3 and 4)."""
    for seed, k in enumerate((3, 4)):
        theta, want = pntk_problem(seed, k)
        got, error = run_answer(answer, theta.copy())
        if error is not None:
            return error
        fb = compare("pNTK", got, want)
        if not fb.ok:
            slip = _pntk_slip(got, theta)
            return Feedback(False, f"with k = {k}: {slip or fb.message}")
    return Feedback(True, "your pNTK equals the kernel of g = sum_c f_c / sqrt(k) computed from "
                          "g's own Jacobian, on two random nets (k = 3 and 4).")


def lookahead_problem(seed: int, *, m: int = 8, n_eval: int = 6, k: int = 3, n_pool: int = 20):
    """A random positive-definite pool kernel ``K (N, N)``, labelled indices ``(m,)``, one
    candidate ``c``, evaluation indices ``(E,)`` and residuals ``resid (N, k)``."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n_pool, n_pool + 4))
    K = a @ a.T / n_pool + 0.05 * np.eye(n_pool)
    order = rng.permutation(n_pool)
    labelled, c, evals = order[:m], int(order[m]), order[m + 1:m + 1 + n_eval]
    return K, labelled, c, evals, rng.standard_normal((n_pool, k))


def reference_lookahead(K, labelled, c, evals, resid) -> np.ndarray:
    """The change ``(E, k)`` by the rank-one update (no second solve)."""
    la = lookahead_prepare(K[np.ix_(labelled, labelled)], resid[labelled], jitter=0.0)
    delta = lookahead_delta(la, K[np.ix_(labelled, [c])], np.diag(K)[[c]],
                            K[np.ix_(evals, labelled)], K[np.ix_(evals, [c])], resid[[c]])
    return delta[0]


def _lookahead_slip(got, K, labelled, c, evals, resid) -> str | None:
    before = K[np.ix_(evals, labelled)] @ np.linalg.solve(K[np.ix_(labelled, labelled)], resid[labelled])
    both = np.append(labelled, c)
    after = K[np.ix_(evals, both)] @ np.linalg.solve(K[np.ix_(both, both)], resid[both])
    naive = np.outer(K[evals, c], resid[c]) / K[c, c]
    slips = (
        (after, "you returned the predictions after adding c, not their change: subtract the "
                "predictions K(E, L) K(L, L)^-1 r_L made without c"),
        (-before, "you returned minus the predictions made without c; the change also needs the "
                  "predictions with c added: K(E, L+c) K(L+c, L+c)^-1 r_(L+c)"),
        (naive, "K(E, c) r_c / K(c, c) ignores the labelled points: adding c re-solves the whole "
                "system, so the part of c that L already explains does not count"),
    )
    for value, message in slips:
        if _near(got, value):
            return message
    return None


@register("lookahead_change", "08_pntk_and_active_learning.ipynb",
          "Write lookahead(K, labelled, c, evals, resid) -> (E, k): the change of kernel-"
          "regression predictions on evals when pool point c joins the labelled set.")
def check_lookahead_change(answer) -> Feedback:
    """Check ``answer(K (N, N), labelled (m,), c, evals (E,), resid (N, k)) -> (E, k)`` on two
    random problems."""
    for seed in range(2):
        problem = lookahead_problem(seed, m=8 + 4 * seed)
        got, error = run_answer(answer, *(np.copy(p) if isinstance(p, np.ndarray) else p
                                          for p in problem))
        if error is not None:
            return error
        want = reference_lookahead(*problem)
        fb = compare("change", got, want)
        if not fb.ok:
            slip = _lookahead_slip(got, *problem)
            return Feedback(False, slip or fb.message)
    return Feedback(True, "your change equals the rank-one look-ahead update on two random "
                          "problems: solving both systems and updating one factor agree.")
