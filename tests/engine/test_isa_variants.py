"""The small-matrix GEMM exists in one variant per instruction set (generic,
AVX2, AVX-512), picked at import; the tests in this process exercise only the
CPU's best.  Here the kernel and epoch tests run again in subprocesses with
FASTMLP_MAX_ISA capping the choice, so every variant this CPU can run is
checked against NumPy."""
import os
import subprocess
import sys

import pytest

from fastmlp import _engine

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
ORDER = ["generic", "avx2", "avx512"]


def _isa_under_cap(cap):
    env = dict(os.environ, FASTMLP_MAX_ISA=cap)
    out = subprocess.run(
        [sys.executable, "-c", "from fastmlp import _engine; print(_engine.gemm_isa())"],
        env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.parametrize("cap", ORDER[:-1])
def test_isa_cap_is_honoured(cap):
    picked = _isa_under_cap(cap)
    best = _engine.gemm_isa()
    assert ORDER.index(picked) == min(ORDER.index(cap), ORDER.index(best)), picked


@pytest.mark.parametrize("cap", ORDER[:-1])
def test_kernels_under_isa_cap(cap):
    if ORDER.index(cap) >= ORDER.index(_engine.gemm_isa()):
        pytest.skip(f"{cap} is this CPU's best variant: the main run covers it")
    env = dict(os.environ, FASTMLP_MAX_ISA=cap)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         os.path.join(TESTS_DIR, "test_kernels.py"), os.path.join(TESTS_DIR, "test_epoch.py")],
        env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_unknown_isa_name_fails_import():
    env = dict(os.environ, FASTMLP_MAX_ISA="sse9")
    result = subprocess.run([sys.executable, "-c", "import fastmlp"], env=env,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "FASTMLP_MAX_ISA" in result.stderr
