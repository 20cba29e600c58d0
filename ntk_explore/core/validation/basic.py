"""Argument checks, one argument (or pair) per function: the building blocks.

Each helper checks one argument (or a pair), raises ``TypeError`` (wrong kind of
object) or ``ValueError`` (right kind, bad value or shape) whose message names the
argument, what was received and what was expected, and returns the cleaned value
(e.g. a float array for an integer one). Entry points call them in one or two lines
at the top, so the error is raised where the user called, not deep inside JAX.

Arrays that are JAX tracers (inside ``jit``/``vmap``) are checked for shape only:
their values are not known yet.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "as_real", "is_int_like", "is_tracer", "param_shapes",
    "as_float_array", "check_same_rows", "check_key", "check_params_match", "check_finite",
    "check_positive_int", "check_nonnegative_int", "check_positive_float",
    "check_nonnegative_float", "check_choice", "check_callable", "check_int_list",
    "check_kernel_matrix", "NotPositiveDefiniteError", "check_model", "round_off",
    "memory_limit_bytes", "check_memory",
]


def _describe(x) -> str:
    shape = getattr(x, "shape", None)
    if shape is not None:
        return f"an array of shape {tuple(shape)} and dtype {getattr(x, 'dtype', '?')}"
    return f"{type(x).__name__} {x!r}" if not isinstance(x, (list, tuple)) else f"a {type(x).__name__}"


def is_tracer(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _default_float():
    return jnp.zeros(()).dtype  # float64 when jax_enable_x64 is on, else float32


def as_float_array(name: str, x, *, ndim: int | None = None, dim: int | None = None,
                   min_rows: int = 1, finite: bool = True, numpy: bool = False):
    """``x`` as a floating array (integers and booleans promoted, lists accepted).

    Args:
      name: the argument's name, used in messages.
      ndim: required number of dimensions (``None``: any).
      dim: required size of the last axis (``None``: any).
      min_rows: required minimum size of the first axis (when ``ndim >= 1``).
      finite: refuse NaN / inf values (skipped for tracers).
      numpy: return a float64 NumPy array instead of a JAX array.
    """
    if x is None:
        raise TypeError(f"{name} must be an array, got None")
    if isinstance(x, (str, bytes, dict, set)) or callable(x) and not hasattr(x, "shape"):
        raise TypeError(f"{name} must be a numeric array, got {_describe(x)}")
    if not is_tracer(x):
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a numeric array, got {_describe(x)} ({err})") from None
        if arr.dtype == object or arr.dtype.kind not in "biuf":
            kind = "complex" if arr.dtype.kind == "c" else f"dtype {arr.dtype}"
            raise TypeError(f"{name} must be a real numeric array, got {kind} values "
                            f"(shape {arr.shape})")
    dtype = getattr(x, "dtype", None)
    if numpy:
        out = np.asarray(x, np.float64)
    elif dtype is not None and jnp.issubdtype(dtype, jnp.floating):
        out = jnp.asarray(x)
    else:
        out = jnp.asarray(x, _default_float())
    if ndim is not None and out.ndim != ndim:
        want = {1: "(n,)", 2: "(n, d)" if dim is None else f"(n, {dim})"}.get(ndim, f"{ndim}-D")
        raise ValueError(f"{name} must be {want} ({ndim}-D), got shape {tuple(out.shape)}")
    if dim is not None and (out.ndim < 1 or out.shape[-1] != dim):
        raise ValueError(f"{name} must have {dim} features (last axis), got shape "
                         f"{tuple(out.shape)}")
    if out.ndim >= 1 and out.shape[0] < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} row(s), got shape "
                         f"{tuple(out.shape)}")
    if finite:
        check_finite(name, out)
    return out


def check_finite(name: str, x) -> None:
    """Raise ``ValueError`` if the (concrete) array ``x`` holds NaN or inf."""
    if is_tracer(x):
        return
    if isinstance(x, jax.Array):  # reduce on the device, copy back one flag
        if not jnp.issubdtype(x.dtype, jnp.inexact):
            return
        with jax.ensure_compile_time_eval():  # a concrete array seen while tracing a jit
            if bool(jnp.all(jnp.isfinite(x))):
                return
    arr = np.asarray(x)
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf) out of "
                         f"{arr.size}; bad data, not a divergence: clean the input")


def _shape(x) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else tuple(np.shape(x))


def check_same_rows(name1: str, a, name2: str, b) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same number of rows."""
    if _shape(a)[:1] != _shape(b)[:1]:
        raise ValueError(f"{name1} and {name2} must have the same number of rows, got "
                         f"shapes {_shape(a)} and {_shape(b)}")


def check_key(name: str, key, *, optional: bool = False):
    """A JAX PRNG key: ``jax.random.key(seed)`` (typed) or ``jax.random.PRNGKey(seed)``.

    Returns the key; ``None`` passes through when ``optional``.
    """
    if key is None and optional:
        return None
    if isinstance(key, jax.Array) or is_tracer(key):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            if key.ndim == 0:
                return key
        elif key.dtype == jnp.uint32 and key.shape == (2,):
            return key
    raise TypeError(
        f"{name} must be a JAX random key, i.e. jax.random.key(seed) (or the legacy "
        f"jax.random.PRNGKey(seed)), one key, not a batch; got {_describe(key)}. "
        f"Split or fold in a key to get new ones: jax.random.split(key), "
        f"jax.random.fold_in(key, i)")


def is_int_like(value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, numbers.Integral):
        return True
    return isinstance(value, (np.ndarray, jax.Array)) and value.ndim == 0 and \
        jnp.issubdtype(value.dtype, jnp.integer)


def check_positive_int(name: str, value, *, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as a Python ``int`` in ``[minimum, maximum]`` (NumPy integers accepted)."""
    if not is_int_like(value):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        top = "" if maximum is None else f" and at most {maximum}"
        raise ValueError(f"{name} must be an integer of at least {minimum}{top}, got {value}")
    return value


def check_nonnegative_int(name: str, value, *, maximum: int | None = None) -> int:
    """``value`` as an ``int >= 0``."""
    return check_positive_int(name, value, minimum=0, maximum=maximum)


def as_real(name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) and not (
            isinstance(value, (np.ndarray, jax.Array)) and value.ndim == 0
            and value.dtype.kind in "iuf"):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def check_positive_float(name: str, value) -> float:
    """``value`` as a finite ``float > 0``."""
    value = as_real(name, value)
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return value


def check_nonnegative_float(name: str, value) -> float:
    """``value`` as a finite ``float >= 0``."""
    value = as_real(name, value)
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    """``value`` if it is one of the strings ``choices``; ``TypeError`` for a non-string."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {sorted(choices)}; got "
                        f"{type(value).__name__} {value!r}")
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {sorted(choices)}")
    return value


def check_callable(name: str, fn) -> None:
    """Raise ``TypeError`` unless ``fn`` is callable."""
    if not callable(fn):
        raise TypeError(f"{name} must be callable (e.g. model.apply), got {_describe(fn)}")


def check_int_list(name: str, values, *, minimum: int = 1, min_len: int = 1,
                   distinct: bool = True) -> tuple[int, ...]:
    """A non-empty sequence of integers ``>= minimum`` as a tuple (order kept)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        if is_int_like(values):
            values = [values]
        else:
            raise TypeError(f"{name} must be a sequence of integers, got {_describe(values)}")
    out = tuple(check_positive_int(f"{name}[{i}]", v, minimum=minimum)
                for i, v in enumerate(values))
    if len(out) < min_len:
        raise ValueError(f"{name} needs at least {min_len} value(s), got {list(out)}")
    if distinct and len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat values, got {list(out)}")
    return out


def check_model(name: str, model, cls) -> None:
    """Raise ``TypeError`` unless ``model`` is an instance of ``cls`` (the caller's model
    class; this module imports no model)."""
    if not isinstance(model, cls):
        raise TypeError(f"{name} must be an {cls.__name__} from ntk_explore.mlp(...), got "
                        f"{type(model).__name__}")


def param_shapes(model):
    """Expected ``[{'w': (fan_out, fan_in), 'b': (fan_out,)}, ...]`` from the layer sizes
    (``None`` for model-like objects without ``in_dim``/``width``/``depth``/``out_dim``)."""
    try:
        dims = [int(model.in_dim)] + [int(model.width)] * int(model.depth) + [int(model.out_dim)]
        bias = bool(model.bias)
    except (AttributeError, TypeError):
        return None
    return [{"w": (o, i), "b": (o,)} if bias else {"w": (o, i)} for i, o in zip(dims[:-1], dims[1:])]


def check_params_match(model, params, name: str = "params", *, finite: bool = True) -> None:
    """Raise ``ValueError`` unless ``params`` has the tree and shapes ``model.init`` makes
    (and, with ``finite``, no NaN/inf in concrete leaves)."""
    want = param_shapes(model)
    if want is None:
        return
    try:
        got = jax.tree.map(_shape, params)
        same = jax.tree.structure(got) == jax.tree.structure(want) and \
            jax.tree.leaves(got) == jax.tree.leaves(want)
    except (TypeError, ValueError):
        same, got = False, type(params).__name__
    if not same:
        raise ValueError(
            f"{name} do not match the model (in_dim={model.in_dim}, width={model.width}, "
            f"depth={model.depth}, out_dim={model.out_dim}, bias={model.bias}): expected "
            f"shapes {want}, got {got}; use params = model.init(key)")
    for i, leaf in enumerate(jax.tree.leaves(params)):
        if is_tracer(leaf):
            continue
        dtype = leaf.dtype if hasattr(leaf, "dtype") else np.asarray(leaf).dtype
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"{name} must hold floating arrays, leaf {i} has dtype {dtype}")
        if finite:
            check_finite(f"{name} (leaf {i})", leaf)


def round_off(dtype, n: int) -> float:
    """Relative size of round-off in an ``n x n`` kernel stored as ``dtype``: ``n eps``."""
    dt = np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.dtype(np.float64)
    return max(int(n), 1) * float(np.finfo(dt).eps)


class NotPositiveDefiniteError(np.linalg.LinAlgError, ValueError):
    """A kernel matrix with an eigenvalue below ``-tol * lam_max`` (not a valid kernel)."""


def check_kernel_matrix(name: str, K, *, dtype=None, sym_tol: float | None = None,
                        psd_tol: float | None = None):
    """Check a square kernel for symmetry and positive semi-definiteness.

    ``K``: ``(m, m)`` array; ``dtype``: the precision it was computed in (default
    ``K``'s own). Tolerances (relative to ``max|K|`` and ``lam_max``): symmetry
    ``max(1e-6, 1000 eps)``, negative eigenvalues ``max(1e-6, 20 m eps)`` (round-off
    of a kernel accumulated in that precision; 1.2e-4 and 1.1e-4 for a float32
    48-point kernel). Returns ``(lam, U)``, the eigendecomposition of the symmetrised
    float64 kernel with eigenvalues at or below ``m eps lam_max`` set to exactly 0
    (zero modes).
    """
    dtype = getattr(K, "dtype", np.float64) if dtype is None else dtype
    K = np.asarray(K, np.float64)
    m = K.shape[0]
    eps = round_off(dtype, 1)
    sym_tol = max(1e-6, 1000 * eps) if sym_tol is None else sym_tol
    psd_tol = max(1e-6, 20 * m * eps) if psd_tol is None else psd_tol
    check_finite(name, K)
    scale = float(np.max(np.abs(K))) if K.size else 0.0
    if scale == 0.0:
        raise ValueError(f"{name} is all zero ({m} x {m}): it carries no information "
                         f"(an integer input cast to zeros, or a zero-width readout?)")
    asym = float(np.max(np.abs(K - K.T))) / scale
    if asym > sym_tol:
        raise ValueError(f"{name} must be symmetric: max|K - K^T| / max|K| = {asym:.3g} "
                         f"exceeds the tolerance {sym_tol:g}")
    lam, U = np.linalg.eigh((K + K.T) / 2)
    top = max(float(lam[-1]), 0.0)
    if lam[0] < 0 and -lam[0] > psd_tol * max(top, scale):
        raise NotPositiveDefiniteError(f"{name} must be positive semi-definite: smallest eigenvalue "
                         f"{lam[0]:.3g} against largest {top:.3g} (relative "
                         f"{-lam[0] / max(top, scale):.3g} > tolerance {psd_tol:.3g})")
    lam = np.where(lam <= round_off(dtype, m) * top, 0.0, lam)
    return lam, U


# ---------------------------------------------------------------------------
# memory

MEMORY_ENV = "NTK_EXPLORE_MAX_KERNEL_BYTES"


def memory_limit_bytes() -> int:
    """Bytes a single route may allocate: ``$NTK_EXPLORE_MAX_KERNEL_BYTES`` when set
    (a positive number such as ``2e9``), else half the machine's RAM."""
    env = os.environ.get(MEMORY_ENV)
    if env is not None and env.strip():
        try:
            value = float(env)
        except ValueError:
            value = float("nan")
        if not (math.isfinite(value) and value >= 1):
            raise ValueError(f"environment variable {MEMORY_ENV} must be a positive number "
                             f"of bytes such as 2e9, got {env!r}")
        return int(value)
    try:
        return int(0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def format_bytes(n: float) -> str:
    """``1.5 GiB``, ``12.0 MiB``, ``900 B``."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def check_memory(need: int, what: str, advice: str = "", limit_bytes: int | None = None) -> int:
    """Raise ``MemoryError`` before allocating when ``need`` bytes exceed the limit.

    ``what`` describes the allocation (it starts the message); returns ``need``.
    """
    limit = memory_limit_bytes() if limit_bytes is None else limit_bytes
    if need > limit:
        raise MemoryError(
            f"{what} needs {format_bytes(need)}, over the limit of {format_bytes(limit)}"
            f"{'; ' + advice if advice else ''}; or raise {MEMORY_ENV}")
    return int(need)


# ---------------------------------------------------------------------------
# widget settings


def check_option(name: str, value, options) -> None:
    """Raise ``ValueError`` unless ``value`` is one of a slider's ``options``."""
    if value not in tuple(options):
        raise ValueError(f"{name} must be one of the slider's options {list(options)}, "
                         f"got {value!r}")


def check_in_range(name: str, value, lo: float, hi: float) -> None:
    """Raise unless ``lo <= value <= hi`` (a slider would silently clip it)."""
    v = as_real(name, value)
    if not lo <= v <= hi:
        raise ValueError(f"{name} must lie in the slider's range [{lo:g}, {hi:g}], got {value!r}")
