"""Settings searched for notebook 09: the kernel distance under several readings of
"mean-field, lr 1 x width", and the transfer setting.

Usage: ``probe_kernel_loses_settings.py transfer`` (the transfer search, below) or
``probe_kernel_loses_settings.py VARIANT [N] [SEED]`` with VARIANT

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

``transfer``: how the source task he1_he3(w.x) is learned decides whether ridge on the
pretrained features (the probe) learns relu(w.x) from m = 16 samples. For each recipe
(1000 GD steps at the data-scaling rate with n_pre = 2048 or 8192; the same with the first
layer initialised 10 times smaller; one big first-layer step, n_pre = 2048), 3 seeds,
width 256: how many hidden units point along w (|c_j| = |W_j . w| above the norm of the
rest of W_j), and the probe's and the eNTK-at-init's test errors at m = 16 and 64. Then,
after one big step, the fine-tuned and target-only nets at each of the rates 0.5, 0.1,
0.02 and 0.01 alone (notebook 09 chooses between 0.1 and 0.01 on validation data).
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


def _transfer_recipe(how, key, n_pre, init_scale=1.0, ms=(16, 64)):
    """Per seed: fraction of units along w, probe and eNTK-at-init errors at ``ms``."""
    s = {**kl.DEFAULTS, "r": 1, "parametrization": "mup"}
    rows = []
    for kk in jax.random.split(key, 3):
        k_task, k_init = jax.random.split(kk)
        src = kl.make_task(k_task, s, jnp.float32, g="he1_he3")
        tgt = kl.make_task(k_task, s, jnp.float32, g="relu")
        model = kl.net_model(32, 256)
        p0 = model.init(k_init, dtype=jnp.float32)
        p0 = [{**p0[0], "w": p0[0]["w"] * init_scale}] + list(p0[1:])
        xs, ys = kl.pretrain_set(src, n_pre)
        pre = (kl.one_step_params(model, p0, xs, ys) if how == "one_step" else
               kl.train_net(model, p0, xs, ys, lr=0.5, steps=1000).params)
        W = np.asarray(model.layers()[0].w_mult * pre[0]["w"])
        c = W @ np.asarray(src.w)[0]
        along = float(np.mean(np.abs(c) > np.linalg.norm(W - np.outer(c, np.asarray(src.w)[0]), axis=1)))
        probe = [kl.kernel_error(kl.readout_kernel_fn(model, pre), tgt, m) for m in ms]
        init = [kl.kernel_error(kl.entk_fn(model, p0), tgt, m) for m in ms]
        rows.append((along, *probe, *init))
    return np.array(rows)


def transfer_search() -> None:
    key = jax.random.key(3)
    print("recipe                               units along w   probe m=16  m=64   eNTK at init m=16  m=64")
    for label, how, n_pre, scale in (("GD 1000 steps, n_pre 2048", "gd", 2048, 1.0),
                                     ("GD 1000 steps, n_pre 8192", "gd", 8192, 1.0),
                                     ("GD, first layer init x 0.1, n_pre 2048", "gd", 2048, 0.1),
                                     ("one big step, n_pre 2048", "one_step", 2048, 1.0)):
        t0 = time.time()
        r = _transfer_recipe(how, key, n_pre, scale)
        m = r.mean(0)
        print(f"{label:38s} {m[0]:6.2f}          {m[1]:.3f}  {m[2]:.3f}        {m[3]:.3f}  {m[4]:.3f}"
              f"   seeds probe m=16 {np.round(r[:, 1], 3).tolist()}  ({time.time() - t0:.0f} s)")
    for lr in (0.5, 0.1, 0.02, 0.01):
        for name in ("finetune", "target_only"):
            try:
                tr = kl.transfer_experiment(key, (16, 64, 256), seeds=3, rates=(lr,),
                                            learners=(name,))
                print(f"rate {lr:g}, {name:11s}: " + " ".join(f"{v:.3f}" for v in tr.mean(name))
                      + "  (m = 16, 64, 256)")
            except Exception as err:  # noqa: BLE001 -- a diverged rate is a result
                print(f"rate {lr:g}, {name:11s}: {type(err).__name__}: {str(err)[:80]}")


def main(argv):
    if argv[0] == "transfer":
        transfer_search()
        return
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
