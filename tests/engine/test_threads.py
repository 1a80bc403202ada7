"""The engine's parallel pass (the optimizer's update of a long parameter
vector) on several threads: the same bits as on one, as many threads as the
BLAS is allowed (threadpoolctl), safe with concurrent callers and across
fork."""
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

# (parameters, of which weights): long enough to be split into parts, with
# the weights/biases boundary inside a part, at a part's edge, or absent
LENGTHS = [(200_003, 150_001), (131_072, 65_536), (70_000, 0), (100_000, 100_000), (9, 4)]
OPTIMIZERS = [("sgd", {"nesterov": False}), ("sgd", {"nesterov": True}), ("adam", {}),
              ("adamw", {"weight_decay": 0.1}), ("rmsprop", {}),
              ("adam", {"max_grad_norm": 0.5})]


def _steps(dtype, n, n_weights, kind, options, n_threads, n_steps=3):
    rng = np.random.default_rng(n + n_weights)
    params = rng.standard_normal(n).astype(dtype)
    optimizer = _engine.Optimizer(kind, n, dtype, learning_rate=0.01, **options)
    for _ in range(n_steps):
        grad = rng.standard_normal(n).astype(dtype)
        optimizer.step_params(params, grad, n_weights=n_weights, n_threads=n_threads)
    return params, optimizer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, n_weights", LENGTHS)
@pytest.mark.parametrize("kind, options", OPTIMIZERS,
                         ids=[f"{k}-{'-'.join(o) or 'plain'}" for k, o in OPTIMIZERS])
def test_threads_give_the_same_bits(dtype, n, n_weights, kind, options):
    ref_params, ref_opt = _steps(dtype, n, n_weights, kind, options, 1)
    for n_threads in (2, 3, 8):
        params, opt = _steps(dtype, n, n_weights, kind, options, n_threads)
        np.testing.assert_array_equal(params, ref_params)
        np.testing.assert_array_equal(opt.moment_1, ref_opt.moment_1)
        np.testing.assert_array_equal(opt.moment_2, ref_opt.moment_2)
        assert opt.step == ref_opt.step == 3


def test_the_weights_boundary_is_kept_across_parts():
    """AdamW's decay shrinks weights only: with the split at entry 150 001
    of 200 003, a zero gradient moves exactly the weights."""
    n, n_weights = 200_003, 150_001
    params = np.ones(n)
    optimizer = _engine.Optimizer("adamw", n, np.float64, learning_rate=0.1,
                                  weight_decay=0.5)
    optimizer.step_params(params, np.zeros(n), n_weights=n_weights, n_threads=4)
    np.testing.assert_array_equal(params[:n_weights], 1 - 0.1 * 0.5)
    np.testing.assert_array_equal(params[n_weights:], 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("gemm", ["own", "blas", None])
def test_prediction_chunks_on_threads_give_the_same_bits(dtype, gemm):
    """Chunks of rows on several threads (each in a workspace of its own)
    predict what one thread predicts, for any plan; and it is the network's
    output."""
    rng = np.random.default_rng(7)
    sizes = (12, 30, 20, 4)
    X = rng.standard_normal((1001, sizes[0])).astype(dtype)
    outputs = {}
    for n_threads in (1, 2, 3, 8):
        net = _engine.Network(sizes, ["tanh", "relu"], "cross_entropy",
                              n_threads=n_threads, gemm=gemm)
        params = np.random.default_rng(0).standard_normal(net.n_params).astype(dtype)
        outputs[n_threads] = _engine.predict(net, params, X, chunk_rows=50)
    for n_threads in (2, 3, 8):
        np.testing.assert_array_equal(outputs[n_threads], outputs[1])
    coefs, intercepts, _, _ = _engine.parameter_layout(sizes)
    a = X.astype(np.float64)
    for i, ((start, stop, shape), (b0, b1)) in enumerate(zip(coefs, intercepts)):
        z = a @ params[start:stop].reshape(shape) + params[b0:b1]
        a = np.tanh(z) if i == 0 else np.maximum(z, 0) if i == 1 else z
    expected = np.exp(a - a.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(outputs[1], expected, rtol=tol, atol=tol)


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
def test_fits_on_1_2_and_3_threads_are_identical(monkeypatch, dtype):
    """A parameter vector long enough to be split (hidden layers of 300 and
    200: 97 000 parameters): any thread count trains the same model bit for
    bit."""
    X, y = make_classification(n_samples=1500, n_features=120, n_classes=3,
                               n_informative=10, random_state=0)
    one = _fit(1, monkeypatch, X, y, dtype)
    for n_threads in (2, 3):
        other = _fit(n_threads, monkeypatch, X, y, dtype)
        assert_same_model(other, one)
        np.testing.assert_array_equal(other.predict_proba(X), one.predict_proba(X))


def test_concurrent_fits_share_the_workers_safely(monkeypatch):
    """Fits in several Python threads at once: one uses the workers, the
    others run their parts themselves; each gets the model it gets alone."""
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
    code = textwrap.dedent("""
        import os, numpy as np
        from fastmlp import _engine

        def update():
            params, grad = np.ones(300_000), np.full(300_000, 0.5)
            _engine.Optimizer("adam", 300_000, np.float64).step_params(
                params, grad, n_weights=200_000, n_threads=2)
            return params

        ref = update()  # starts the workers in the parent
        pid = os.fork()
        if pid == 0:
            os._exit(0 if np.array_equal(update(), ref) else 3)
        _, status = os.waitpid(pid, 0)
        raise SystemExit(os.waitstatus_to_exitcode(status))
    """)
    result = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert result.returncode == 0
