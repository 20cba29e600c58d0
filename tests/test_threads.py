"""Importing the package leaves BLAS single-threaded unless the user chose a count."""

import json
import os
import subprocess
import sys

_PROBE = ("import json, threadpoolctl, ntk_explore; "
          "print(json.dumps([i['num_threads'] for i in threadpoolctl.threadpool_info() "
          "if i['user_api'] == 'blas']))")


def _blas_threads(env_extra: dict) -> list[int]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env.update(env_extra, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_import_limits_every_loaded_blas_to_one_thread():
    threads = _blas_threads({})
    assert len(threads) >= 2, f"expected numpy's and scipy's BLAS to be loaded, got {threads}"
    assert threads == [1] * len(threads)


def test_a_users_thread_setting_is_respected():
    assert 2 in _blas_threads({"OPENBLAS_NUM_THREADS": "2"})
