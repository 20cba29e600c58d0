"""Sharded kernels and matrix-free solve equal one device (float64), in subprocesses.

Device counts are fixed when JAX starts, so each check runs in its own process:
4 virtual CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=4``),
and two ``jax.distributed`` processes on 127.0.0.1 with 2 devices each (gloo CPU
collectives). Set ``NTK_EXPLORE_SKIP_MULTIPROCESS=1`` to skip the latter (e.g.
where local TCP ports are not allowed).
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("sharding_worker.py")
ROOT = WORKER.parent.parent


def _env(devices: int) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu", OPENBLAS_NUM_THREADS="1",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def _within_bounds(out: dict) -> None:
    """Each ``[measured, bound]`` pair: the sharded and single-device results differ by no
    more than summation order (kernels) or the solves' own residuals (CG) allow. The
    bounds are derived in ``sharding_worker.py`` from float64's epsilon, the number of
    terms in each sum, and the residual and conditioning of each solve, so they hold on
    any processor; the last check keeps them tight enough to mean "equal"."""
    for name, (rel, bound) in out.items():
        assert rel <= bound, f"{name}: sharded vs single differ by {rel:.3g} > bound {bound:.3g}"
        assert bound < 1e-6, f"{name}: bound {bound:.3g} too loose to show agreement"


def test_four_devices_equal_one():
    proc = subprocess.run([sys.executable, str(WORKER), "single"], capture_output=True,
                          text=True, env=_env(4), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = _last_json(proc.stdout)
    assert out.pop("devices") == 4
    assert out.pop("row_sharded") is True
    _within_bounds(out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(os.environ.get("NTK_EXPLORE_SKIP_MULTIPROCESS") == "1",
                    reason="NTK_EXPLORE_SKIP_MULTIPROCESS=1")
def test_two_processes_equal_one_device():
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, str(WORKER), "multi", str(port), str(rank)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env(2)) for rank in (0, 1)]
    outs = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=300)
            assert p.returncode == 0, stderr[-3000:]
            outs.append(_last_json(stdout))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for out in outs:
        assert (out["devices"], out["local_devices"], out["processes"]) == (4, 2, 2)
        _within_bounds({k: out[k] for k in ("mlp_ntk", "matfree_entk")})
