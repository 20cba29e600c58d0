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


def test_four_devices_equal_one():
    proc = subprocess.run([sys.executable, str(WORKER), "single"], capture_output=True,
                          text=True, env=_env(4), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = _last_json(proc.stdout)
    assert out.pop("devices") == 4
    assert out.pop("row_sharded") is True
    for name, rel in out.items():
        assert rel < 1e-10, (name, rel)


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
        assert out["mlp_ntk"] < 1e-12 and out["matfree_entk"] < 1e-9, out
