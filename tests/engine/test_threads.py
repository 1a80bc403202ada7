"""The engine's own GEMM kernel on several threads: the same bits as on one,
as many threads as the BLAS is allowed (threadpoolctl), safe with
concurrent callers and across fork."""
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_limits

from fastmlp import MLPClassifier, _engine
from fastmlp import _multilayer_perceptron, _resources

from _engine_ref import _kernels
from conftest import assert_same_model

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# (M, K, N): split by rows, by columns (few rows, the weight gradient of a
# narrow first layer), too small to split, odd sizes and tails
SHAPES = [(256, 784, 512), (784, 256, 130), (64, 1797, 100), (40, 3000, 77),
          (97, 33, 17), (600, 200, 3), (5, 7, 3)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, k, n", SHAPES)
def test_threads_give_the_same_bits(dtype, m, k, n):
    rng = np.random.default_rng(m * n + k)
    x = rng.standard_normal((m, k)).astype(dtype)
    w = rng.standard_normal((k, n)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    dout = rng.standard_normal((m, n)).astype(dtype)
    # small_gemm_max=inf: the engine's kernel for every product
    ref_out = _kernels.dense_forward(x, w, b, "leaky_relu", small_gemm_max=np.inf)
    ref_grads = _kernels.dense_backward(dout, x, w, small_gemm_max=np.inf)
    for n_threads in (2, 3, 8):
        out = _kernels.dense_forward(x, w, b, "leaky_relu", small_gemm_max=np.inf,
                                    n_threads=n_threads)
        np.testing.assert_array_equal(out, ref_out)
        for got, ref in zip(_kernels.dense_backward(dout, x, w, small_gemm_max=np.inf,
                                                   n_threads=n_threads), ref_grads):
            np.testing.assert_array_equal(got, ref)
    # and it is the product
    tol = 1e-4 if dtype == np.float32 else 1e-12
    z = x.astype(np.float64) @ w + b
    expected = np.where(z > 0, z, 0.01 * z)
    assert np.max(np.abs(ref_out - expected)) <= tol * np.max(np.abs(expected))


@pytest.mark.parametrize("n_threads", [0, -1, 65, 1.5, True])
def test_invalid_thread_counts(n_threads):
    with pytest.raises(ValueError, match="n_threads must be an integer"):
        _engine.Network((3, 4, 2), ["relu"], "cross_entropy", n_threads=n_threads)


def test_engine_threads_follow_the_blas_limit():
    with threadpool_limits(1):
        assert _resources.engine_threads() == 1
        X, y = make_classification(n_samples=60, random_state=0)
        clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=2).fit(X, y)
        assert clf._network().n_threads == 1
    with threadpool_limits(3):
        assert _resources.engine_threads() == 3


def _fit(n_threads, monkeypatch, X, y, dtype):
    monkeypatch.setattr(_multilayer_perceptron, "engine_threads", lambda: n_threads)
    clf = MLPClassifier(hidden_layer_sizes=(300, 200), batch_size=256, max_iter=2,
                        random_state=0)
    clf.fit(X.astype(dtype), y)
    return clf


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fits_on_2_and_3_threads_are_identical(monkeypatch, dtype):
    """Products large enough to be split (hidden layers of 300 and 200,
    batches of 256, 1000-row prediction chunks): any thread count above one
    trains the same model bit for bit."""
    X, y = make_classification(n_samples=1500, n_features=120, n_classes=3,
                               n_informative=10, random_state=0)
    two = _fit(2, monkeypatch, X, y, dtype)
    three = _fit(3, monkeypatch, X, y, dtype)
    assert_same_model(two, three)
    np.testing.assert_array_equal(two.predict_proba(X), three.predict_proba(X))


def test_concurrent_fits_share_the_workers_safely(monkeypatch):
    """Fits in several Python threads at once: one uses the workers, the
    others run their chunks themselves; each gets the model it gets alone."""
    X, y = make_classification(n_samples=1200, n_features=100, random_state=1)
    monkeypatch.setattr(_multilayer_perceptron, "engine_threads", lambda: 2)
    params = dict(hidden_layer_sizes=(256, 128), batch_size=256, max_iter=2)
    alone = [MLPClassifier(random_state=s, **params).fit(X, y) for s in range(4)]
    results = [None] * 4

    def work(seed):
        results[seed] = MLPClassifier(random_state=seed, **params).fit(X, y)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, ref in zip(results, alone):
        assert_same_model(got, ref)


def test_a_forked_child_can_train():
    """The workers do not survive fork(); a child must start its own rather
    than wait for threads that do not exist."""
    pytest.importorskip("fastmlp._kernels")
    code = textwrap.dedent("""
        import os, numpy as np
        from fastmlp import _kernels
        rng = np.random.default_rng(0)
        x = rng.standard_normal((512, 300)); w = rng.standard_normal((300, 200))
        b = np.zeros(200)
        ref = _kernels.dense_forward(x, w, b, "relu", small_gemm_max=np.inf, n_threads=2)
        pid = os.fork()
        if pid == 0:
            out = _kernels.dense_forward(x, w, b, "relu", small_gemm_max=np.inf, n_threads=2)
            os._exit(0 if np.array_equal(out, ref) else 3)
        _, status = os.waitpid(pid, 0)
        raise SystemExit(os.waitstatus_to_exitcode(status))
    """)
    result = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert result.returncode == 0
