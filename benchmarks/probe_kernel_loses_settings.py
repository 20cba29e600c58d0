"""Issue 13's kernel-distance criterion under several readings of "mean-field, lr 1 x width".

Usage: ``probe_kernel_loses_settings.py VARIANT [N] [SEED]`` with VARIANT

* ``A``: the package's net (``kl.net_model``, biases, He init) with ``kl.layer_rates``:
  GD on the stored weights equals mean-field GD at rate ``1 x width`` on every
  parameter (readout ``a_j``, first-layer ``w_j``); the ``x d`` first-layer factor is
  what turns the stored-weight rate into that mean-field rate.
* ``B``: the same net with ``model.lr_scales()`` (no ``x d``): first-layer rate ``width / d``.
* ``C``: plain mean-field without biases, ``f = (1/N) sum_j a_j relu(w_j . x)``,
  ``w_j ~ N(0, I/d)``, ``a_j ~ N(0, 1)``, rate ``N`` on every parameter.
* ``C2``: ``C`` with the package's He init (variances doubled).

For each, ``S(K0, Kt)`` at the first step whose loss is <= 5% of the start, against
the final ``S``, with the kernel on 256 training or 256 test inputs, full eNTK or its
first-layer part only (readout excluded).
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from ntk_explore.core import metrics as km
from ntk_explore.core import tasks as tk
from ntk_explore.topics import kernel_loses as kl


def train_variant(variant, key, x, y, steps=1000):
    """``(apply, param history, loss history)`` of one variant's full-batch GD."""
    if variant in ("A", "B"):
        model = kl.net_model(x.shape[1], 256, 1)
        p0 = model.init(key, dtype=jnp.float32)
        rates = kl.layer_rates(model) if variant == "A" else model.lr_scales()
        res = kl.train_net(model, p0, x, y, lr=0.5, steps=steps, keep_params=True,
                           record_every=1, rates=rates)
        return model.apply, res.param_history, np.asarray(res.loss)
    width, d = 256, x.shape[1]
    ka, kw = jax.random.split(key)
    sw = np.sqrt(2.0) if variant == "C2" else 1.0
    p0 = {"w": sw * jax.random.normal(kw, (width, d)) / np.sqrt(d),
          "a": sw * jax.random.normal(ka, (width,))}

    def apply(p, xs):
        return (jax.nn.relu(xs @ p["w"].T) @ p["a"] / width)[:, None]

    f0 = apply(p0, x)

    def loss_fn(p):
        return 0.5 * jnp.mean((apply(p, x) - f0 - y) ** 2)

    @jax.jit
    def step(p):
        value, g = jax.value_and_grad(loss_fn)(p)
        return jax.tree.map(lambda a, b: a - width * b, p, g), value

    hist, loss, p = [p0], [], p0
    for _ in range(steps):
        p, value = step(p)
        loss.append(float(value))
        hist.append(p)
    loss.append(float(loss_fn(p)))
    return apply, hist, np.asarray(loss)


def kernel(apply, params, xs, first_only):
    jac = jax.jacrev(lambda p: apply(p, xs)[:, 0])(params)
    if first_only:
        jac = jac[0] if isinstance(jac, list) else {"w": jac["w"]}
    J = jnp.concatenate([j.reshape(xs.shape[0], -1) for j in jax.tree.leaves(jac)], 1)
    return np.asarray(J @ J.T, np.float64)


def main(argv):
    variant = argv[0]
    n = int(argv[1]) if len(argv) > 1 else 2048
    seed = int(argv[2]) if len(argv) > 2 else 1
    k_task, k_init = jax.random.split(jax.random.key(seed))
    task = tk.index_task(k_task, n, d=32, r=1, g="he1_he3", n_val=1000, n_test=1000)
    x, y = task.train_set(n)
    t0 = time.time()
    apply, hist, loss = train_variant(variant, k_init, x, y)
    p_last, p_first = hist[-1], hist[0]
    err = km.unexplained_variance(apply(p_last, task.x_test) - apply(p_first, task.x_test), task.y_test)
    print(f"{variant}: trained in {time.time() - t0:.1f} s; final loss/loss0 {loss[-1] / loss[0]:.4f}; "
          f"test MSE/Var(y) {float(err):.3f}")
    hit = np.nonzero(loss <= 0.05 * loss[0])[0]
    if not hit.size:
        print(f"{variant}: the loss never reached 5% of its start: the criterion is undefined")
        return
    hit = int(hit[0])
    steps = sorted(set(kl.snapshot_steps(len(loss) - 1, 16).tolist()) | {hit})
    for name, xs in (("train", x[:256]), ("test", task.x_test[:256])):
        for first in (False, True):
            ks = [kernel(apply, hist[t], xs, first) for t in steps]
            dist = np.array([km.kernel_distance(ks[0], k) for k in ks])
            at = dist[steps.index(hit)]
            print(f"{variant}: kernel on {name:5s} {'first layer only' if first else 'full eNTK':16s} "
                  f"S at the 5%-loss step {hit}: {at:.4f}, final {dist[-1]:.4f}, "
                  f"ratio {at / dist[-1]:.3f}, max {dist.max():.4f}")


if __name__ == "__main__":
    main(sys.argv[1:])
