"""The engine's GEMM is the optimized OpenBLAS that threadpoolctl sees."""
import os

import numpy as np
import scipy
from threadpoolctl import threadpool_info, threadpool_limits

import fastmlp  # noqa: F401  (importing fastmlp must load the engine's BLAS)
from fastmlp import _engine

from _engine_ref import _kernels


def _engine_blas_entry():
    # The engine calls scipy.linalg.cython_blas, which forwards to the
    # OpenBLAS bundled in scipy's wheel (scipy.libs/), not numpy's.
    wrapper = _engine.blas_library()
    assert os.path.basename(os.path.dirname(wrapper)) == "linalg", wrapper
    scipy_libs = os.path.realpath(os.path.dirname(scipy.__file__) + ".libs")
    # The loader maps one library per soname: where numpy's wheel bundles the
    # very OpenBLAS build scipy's does (NumPy 1.21 with SciPy 1.7), scipy's
    # resolves to numpy's copy, which is then the engine's BLAS.
    scipy_blas_names = set(os.listdir(scipy_libs)) if os.path.isdir(scipy_libs) else set()
    matches = [
        i
        for i in threadpool_info()
        if os.path.dirname(os.path.realpath(i["filepath"])) == scipy_libs
        or os.path.basename(i["filepath"]) in scipy_blas_names
    ]
    assert matches, f"scipy's OpenBLAS not in threadpool_info(): {threadpool_info()}"
    return matches[0]


def test_threadpool_info_shows_the_engine_blas():
    entry = _engine_blas_entry()
    assert entry["user_api"] == "blas"
    assert entry["internal_api"] == "openblas"


def test_threadpool_limits_changes_the_engine_blas_threads():
    before = _engine_blas_entry()["num_threads"]
    with threadpool_limits(limits=1, user_api="blas"):
        assert _engine_blas_entry()["num_threads"] == 1
    assert _engine_blas_entry()["num_threads"] == before


def test_engine_gemm_under_thread_limit_is_exact():
    # the same product with 1 thread and with the default: both equal NumPy's
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 200))
    w = rng.standard_normal((200, 150))
    b = np.zeros(150)
    expected = x @ w
    with threadpool_limits(limits=1, user_api="blas"):
        single = _kernels.dense_forward(x, w, b, "identity")
    default = _kernels.dense_forward(x, w, b, "identity")
    np.testing.assert_allclose(single, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(default, expected, rtol=1e-12, atol=1e-12)
