"""Warm-up threads stop cleanly at interpreter exit, even in the middle of compiling.

Without the exit hook in ``explore/_background.py`` this script aborted with
"FATAL: exception not rethrown" (exit status 134) every time it was tried.
"""

import os
import subprocess
import sys

_SCRIPT = """
from ntk_explore.widgets.equivalence import ThreeLearnersApp
app = ThreeLearnersApp(width=64, steps=20)  # starts compiling nearby settings in the background
assert app._warmup.is_alive()
print("main done", flush=True)
"""


def test_process_exits_cleanly_while_a_warm_up_compiles():
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "main done" in out.stdout
