"""Matrix-free eNTK / pNTK regression against the dense route (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_explore as ne
from ntk_explore.core import matfree
from ntk_explore.core.kernels import check_kernel_memory
from ntk_explore.core.models import Parametrization

# c != 0 makes the learning-rate scales differ from 1, so the test sees them.
CUSTOM = Parametrization("custom", (0.0, 0.5, 0.5), (0.0, 0.0, 0.0), (0.0, 0.5, 1.0))


def _setup(key, k, n=16, t=7, d=5, width=48):
    model = ne.mlp(d, width, 2, k, parametrization=CUSTOM, base_width=16)
    kp, kx, kt, ky = jax.random.split(key, 4)
    params = model.init(kp)
    x = jax.random.normal(kx, (n, d))
    x_test = jax.random.normal(kt, (t, d))
    y = jax.random.normal(ky, (n, k))
    return model, params, x, x_test, y


def _dense(model, params, x, y, x_test, kernel, ridge):
    if kernel == "entk":
        fn = ne.mlp_ntk(model)
        pred = ne.kernel_regression(ne.flatten_blocks(fn(x, None, params)), y.reshape(-1),
                                    ne.flatten_blocks(fn(x_test, x, params)), ridge=ridge)
        return pred.reshape(x_test.shape[0], -1)
    fn = ne.mlp_pntk(model)
    return ne.kernel_regression(fn(x, None, params), y, fn(x_test, x, params), ridge=ridge)


@pytest.mark.parametrize("kernel", ["entk", "pntk"])
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_equals_dense_route(key, kernel, k, ridge):
    model, params, x, x_test, y = _setup(key, k)
    dense = _dense(model, params, x, y, x_test, kernel, ridge)
    res = matfree.matfree_regression(model.apply, params, x, y, x_test, kernel=kernel,
                                     lr_scales=model.lr_scales(), ridge=ridge, tol=1e-10,
                                     chunk_size=10, maxiter=1000)
    assert res.converged and res.rel_residual <= 1e-10
    assert res.predictions.shape == dense.shape
    assert ne.relative_frobenius(res.predictions, dense) < 1e-6


def test_lr_scales_matter(key):
    # The same solve without the scales is a different kernel: the test above can fail.
    model, params, x, x_test, y = _setup(key, 1)
    dense = _dense(model, params, x, y, x_test, "pntk", 0.3)
    res = matfree.matfree_regression(model.apply, params, x, y, x_test, kernel="pntk",
                                     ridge=0.3, tol=1e-12)
    assert ne.relative_frobenius(res.predictions, dense) > 1e-3


@pytest.mark.parametrize("kernel", ["entk", "pntk"])
def test_operators_equal_dense_kernel(key, kernel):
    model, params, x, x_new, _ = _setup(key, 3, n=11)
    generic = matfree.tangent_operator(model.apply, params, x, kernel=kernel,
                                       lr_scales=model.lr_scales(), chunk_size=4)
    structured = matfree.mlp_tangent_operator(model, params, x, kernel=kernel, chunk_size=4)
    v = jax.random.normal(jax.random.key(3), (2, 11, generic.q))
    if kernel == "entk":
        full = ne.mlp_ntk(model)(x, None, params)  # (n, n, k, k)
        cross = ne.mlp_ntk(model)(x_new, x, params)
    else:
        full = ne.mlp_pntk(model)(x, None, params)[:, :, None, None]
        cross = ne.mlp_pntk(model)(x_new, x, params)[:, :, None, None]
    for op in (generic, structured):
        assert ne.relative_frobenius(op.matvec(v), jnp.einsum("abce,mbe->mac", full, v)) < 1e-12
        assert ne.relative_frobenius(op.push_to(x_new, op.rmatvec(v)),
                                     jnp.einsum("abce,mbe->mac", cross, v)) < 1e-12
    cols = generic.columns(np.array([0, 5, 7]))
    assert ne.relative_frobenius(cols, full[:, [0, 5, 7]].transpose(0, 2, 1, 3)) < 1e-12


@pytest.mark.parametrize("kernel", ["entk", "pntk"])
def test_nystrom_preconditioner_cuts_iterations(key, kernel):
    model, params, x, x_test, y = _setup(key, 3, n=60, width=32)
    ridge = 1e-2 * float(jnp.mean(jnp.diag(ne.mlp_pntk(model)(x, None, params))))
    kw = dict(kernel=kernel, ridge=ridge, tol=1e-9, maxiter=2000)
    plain = matfree.mlp_matfree_regression(model, params, x, y, x_test, **kw)
    pre = matfree.mlp_matfree_regression(model, params, x, y, x_test, rank=45,
                                         key=jax.random.key(1), **kw)
    generic = matfree.matfree_regression(model.apply, params, x, y, x_test,
                                         lr_scales=model.lr_scales(), rank=45,
                                         key=jax.random.key(1), **kw)
    dense = _dense(model, params, x, y, x_test, kernel, ridge)
    for res in (plain, pre, generic):
        assert ne.relative_frobenius(res.predictions, dense) < 1e-6
    assert pre.iterations < 0.5 * plain.iterations, (pre.iterations, plain.iterations)
    # JVP columns and structured columns give the same preconditioner.
    assert abs(generic.iterations - pre.iterations) <= 2


def test_ridgeless_underdetermined_is_minimum_norm_interpolant(key):
    model, params, x, x_test, y = _setup(key, 1)
    res = matfree.mlp_matfree_regression(model, params, x, y, x, kernel="pntk", tol=1e-12)
    assert ne.relative_frobenius(res.predictions, y) < 1e-8  # interpolates


def test_non_convergence_is_an_error(key):
    model, params, x, x_test, y = _setup(key, 3, n=60)
    with pytest.raises(matfree.ConvergenceError, match="did not converge") as info:
        matfree.mlp_matfree_regression(model, params, x, y, x_test, kernel="entk",
                                       tol=1e-12, maxiter=3)
    assert info.value.result.iterations == 3 and not info.value.result.converged
    quiet = matfree.mlp_matfree_regression(model, params, x, y, x_test, kernel="entk",
                                           tol=1e-12, maxiter=3, raise_on_failure=False)
    assert not quiet.converged and quiet.rel_residual > 1e-12


def test_breakdown_stops_at_once_with_an_error():
    """A residual that turns NaN (float32 breakdown) ends the solve at once, named as such."""
    calls = []

    def matvec(v):  # an operator that breaks down on its third product
        calls.append(1)
        return v * (jnp.nan if len(calls) >= 3 else 2.0 + jnp.arange(v.shape[1])[None, :, None])

    b = jnp.ones((1, 5, 1))  # (m, n, q)
    with pytest.raises(matfree.ConvergenceError, match="broke down") as info:
        matfree.cg_solve(matvec, b, tol=1e-12, maxiter=500)
    assert info.value.result.iterations < 5  # not 500 iterations of NaN


def test_bad_input(key):
    model, params, x, x_test, y = _setup(key, 3)
    with pytest.raises(ValueError, match="y_train"):
        matfree.mlp_matfree_regression(model, params, x, y[:, :2], x_test, kernel="entk")
    with pytest.raises(ValueError, match="kernel"):
        matfree.tangent_operator(model.apply, params, x, kernel="nope")
    with pytest.raises(ValueError, match="key"):
        matfree.mlp_matfree_regression(model, params, x, y, x_test, rank=5)


def test_progress_bar(key, capsys):
    model, params, x, x_test, y = _setup(key, 1)
    matfree.mlp_matfree_regression(model, params, x, y, x_test, progress=True, tol=1e-8)
    assert "CG" in capsys.readouterr().err


def test_dense_guard_names_this_route():
    with pytest.raises(MemoryError, match="matfree"):
        check_kernel_memory(100_000, 100_000, 1, limit_bytes=2**30)


def test_kernel_predict_matches_dense_learner(key):
    # the drop-in for the data-scaling learners: relative ridge, like scaling.kernel_predict
    from ntk_explore.topics import scaling

    model, params, x, x_test, y = _setup(key, 3, n=40)
    for kernel in ("pntk", "entk"):
        want = scaling.kernel_predict(model, params, x, y, x_test, kernel=kernel, ridge=1e-2)
        got = matfree.matfree_kernel_predict(model, params, x, y, x_test, kernel=kernel,
                                             ridge=1e-2, rank=10, tol=1e-11, maxiter=2000)
        assert ne.relative_frobenius(got, want) < 1e-6


def _float32_problem(key, n=768, width=128, rel_ridge=1e-7):
    """A float32 system whose conditioning puts float32 CG's floor above 1e-7."""
    model = ne.mlp(6, width, 2, 1)
    kp, kx, kt, ky = jax.random.split(key, 4)
    params = jax.tree.map(lambda a: a.astype(jnp.float32), model.init(kp))
    x = jax.random.normal(kx, (n, 6), jnp.float32)
    x_test = jax.random.normal(kt, (9, 6), jnp.float32)
    y = jnp.sin(x[:, :1] * 2.0) + 0.1 * jax.random.normal(ky, (n, 1), jnp.float32)
    ridge = rel_ridge * matfree.mean_diagonal(ne.mlp_pntk(model), x, params)
    return model, params, x, x_test, y, ridge


@pytest.mark.parametrize("structured", [True, False])
def test_promoted_operator_is_the_float64_kernel(key, structured):
    model, params, x, _, _, _ = _float32_problem(key, n=40, width=16)
    p64 = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    x64 = x.astype(jnp.float64)
    if structured:
        op = matfree.mlp_tangent_operator(model, params, x, chunk_size=16)
        ref = matfree.mlp_tangent_operator(model, p64, x64, chunk_size=16)
    else:
        op = matfree.tangent_operator(model.apply, params, x, kernel="pntk", chunk_size=16,
                                      lr_scales=model.lr_scales())
        ref = matfree.tangent_operator(model.apply, p64, x64, kernel="pntk", chunk_size=16,
                                       lr_scales=model.lr_scales())
    hi = op.promoted()
    assert hi.dtype == jnp.float64 and not hi.cache and op.cache
    v = jax.random.normal(key, (2, 40, 1), jnp.float64)
    assert hi.matvec(v).dtype == jnp.float64
    assert ne.relative_frobenius(hi.matvec(v), ref.matvec(v)) < 1e-14
    dense = ne.mlp_pntk(model)(x64, None, p64)
    assert ne.relative_frobenius(hi.matvec(v)[:, :, 0], v[:, :, 0] @ dense) < 1e-12


def test_refine_reaches_below_the_float32_floor(key):
    model, params, x, x_test, y, ridge = _float32_problem(key)
    p64 = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    fn = ne.mlp_pntk(model)
    x64 = x.astype(jnp.float64)
    k64 = fn(x64, None, p64)
    dense = ne.kernel_regression(k64, y.astype(jnp.float64), fn(x_test.astype(jnp.float64),
                                                                 x64, p64), ridge=ridge)
    kw = dict(kernel="pntk", ridge=ridge, rank=64, key=jax.random.key(1), maxiter=3000,
              raise_on_failure=False)
    plain = matfree.mlp_matfree_regression(model, params, x, y, x_test, tol=1e-9, **kw)
    refined = matfree.mlp_matfree_regression(model, params, x, y, x_test, tol=1e-9,
                                             refine=True, **kw)
    # plain float32 CG stalls above the target (its own float32 residual), refinement does not
    assert not plain.converged and plain.rel_residual > 1e-8, plain.rel_residual
    assert refined.converged and refined.rel_residual <= 1e-9, refined
    assert refined.coefficients.dtype == jnp.float64 and refined.predictions.dtype == jnp.float64
    # the float64 residual reported is the float64 system's (checked with the dense kernel)
    c = refined.coefficients.reshape(-1)
    resid = jnp.linalg.norm(y[:, 0] - (k64 @ c + ridge * c)) / jnp.linalg.norm(y)
    assert float(resid) == pytest.approx(refined.rel_residual, rel=1e-3)
    assert ne.relative_frobenius(refined.predictions, dense) < 1e-6
    # and it is closer to the float64 answer than plain float32 CG
    assert ne.relative_frobenius(refined.predictions, dense) < 0.1 * ne.relative_frobenius(
        plain.predictions, dense)
    assert refined.refine_seconds > 0 and refined.products >= refined.iterations


def test_refine_needs_float64_and_checks_inner_tol(key):
    model, params, x, x_test, y, ridge = _float32_problem(key, n=32, width=8)
    op = matfree.mlp_tangent_operator(model, params, x)
    with jax.enable_x64(False):
        with pytest.raises(RuntimeError, match="jax_enable_x64"):
            op.promoted()
    with pytest.raises(ValueError, match="inner_tol"):
        matfree.cg_solve(op.matvec, y.T[:, :, None], refine=op.promoted().matvec, inner_tol=2.0)


def test_float32_nystrom_stays_orthonormal_at_high_rank():
    """A float32 Nystrom of rank ~n/2 on a kernel whose spectrum spans 1e-5 (the teacher
    task's eNTK, n = 2048): its basis stays orthonormal (it was ||U^T U - I|| = 52 with a
    float32 Gram) and CG converges fast (it stalled at residual 0.8 after 1000 iterations)."""
    from ntk_explore.topics import scaling

    task = scaling.teacher_task(n_pool=2048)
    model = ne.mlp(task.x.shape[1], 256, 1, 1, parametrization="ntk")
    params = jax.tree.map(lambda a: a.astype(jnp.float32), scaling.init_from_draw(model, jax.random.key(0)))
    x = jnp.asarray(task.x, jnp.float32)
    y = jnp.asarray(task.y, jnp.float32)
    op = matfree.mlp_tangent_operator(model, params, x)
    lam = 1e-3 * matfree.mean_diagonal(ne.mlp_pntk(model), x, params)
    pre = matfree.nystrom(op, 1000, key=jax.random.key(0), ridge=lam, columns=ne.mlp_pntk(model))
    u = np.concatenate([np.asarray(b, np.float64) for b in pre.U])
    assert u.shape == (2048, len(pre.eigenvalues)) and len(pre.eigenvalues) > 900
    assert np.linalg.norm(u.T @ u - np.eye(u.shape[1]), 2) < 1e-2
    res = matfree.cg_solve(op.matvec, y.T[:, :, None], ridge=lam, tol=1e-4, preconditioner=pre,
                           maxiter=300)
    assert res.converged and res.iterations < 100, res


def test_refine_works_in_a_float32_session(key):
    with jax.enable_x64(False):
        model, params, x, x_test, y, ridge = _float32_problem(key, n=256, width=32)
        res = matfree.mlp_matfree_regression(model, params, x, y, x_test, kernel="pntk",
                                             ridge=ridge, rank=32, key=jax.random.key(1),
                                             tol=1e-8, maxiter=2000, refine=True)
        assert jnp.zeros(()).dtype == jnp.float32  # the session stays float32
    assert isinstance(res.predictions, np.ndarray) and res.predictions.dtype == np.float64
    assert res.converged and res.rel_residual <= 1e-8
    fn = ne.mlp_pntk(model)
    p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
    x64, t64 = x.astype(jnp.float64), x_test.astype(jnp.float64)
    dense = ne.kernel_regression(fn(x64, None, p64), y.astype(jnp.float64), fn(t64, x64, p64),
                                 ridge=ridge)
    assert ne.relative_frobenius(res.predictions, dense) < 1e-6


def test_bad_values_are_named_before_any_solve(key):
    model, params, x, x_test, y = _setup(key, 1)
    kw = dict(kernel="entk", lr_scales=model.lr_scales(), ridge=0.1)
    with pytest.raises(ValueError, match="y_train contains 1 non-finite"):
        matfree.matfree_regression(model.apply, params, x, y.at[3, 0].set(jnp.nan), x_test, **kw)
    with pytest.raises(ValueError, match="x_test contains"):
        matfree.matfree_regression(model.apply, params, x, y, x_test.at[0, 0].set(jnp.inf), **kw)
    with pytest.raises(ValueError, match="same number of rows"):
        matfree.matfree_regression(model.apply, params, x, y[:-1], x_test, **kw)
    with pytest.raises(ValueError, match=r"tol must be a number > 0 and < 1"):
        matfree.matfree_regression(model.apply, params, x, y, x_test, tol=0.0, **kw)
    with pytest.raises(ValueError, match="maxiter"):
        matfree.matfree_regression(model.apply, params, x, y, x_test, maxiter=0, **kw)
    # one output: y may be (n,) for the eNTK too, and predictions come back (t,)
    flat = matfree.matfree_regression(model.apply, params, x, y[:, 0], x_test, tol=1e-10, **kw)
    col = matfree.matfree_regression(model.apply, params, x, y, x_test, tol=1e-10, **kw)
    assert flat.predictions.shape == (x_test.shape[0],)
    assert ne.relative_frobenius(flat.predictions, col.predictions[:, 0]) < 1e-12
