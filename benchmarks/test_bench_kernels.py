"""Micro-benchmarks of the engine's kernels (pytest-benchmark).

    python -m pytest benchmarks/test_bench_kernels.py --benchmark-only
    python -m pytest benchmarks/test_bench_kernels.py --benchmark-only -k "dense and wide"
    python -m pytest benchmarks/test_bench_kernels.py --benchmark-only \
        --benchmark-save=before          # later: --benchmark-compare=0001

Not collected by `python -m pytest tests` (pyproject's testpaths is ["tests"]).
Kernels are called through their twins in `fastmlp._kernels`; the twins of dense_forward,
dense_backward and loss_delta allocate their outputs (and loss_delta copies z
to apply the output activation) on every call, so those timings include a
small allocation that the training loop does not pay.  The in-place kernels
(bias_activation, activation_backward) get a fresh copy of their input per
round (pedantic setup, not timed) so repeated calls never drift into
saturation or subnormal numbers.  Timings are only comparable within one
session on one machine; use --benchmark-compare for before/after.

BLAS threads: FASTMLP_BENCH_THREADS=N limits every BLAS/OpenMP pool to N
threads for the session (threadpoolctl); unset, the BLAS default is kept.  On
a busy machine the BLAS path with 2 threads can be 10x slower than with one
(its threads wait for a core), so compare paths at a fixed thread count.
"""
import os

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from fastmlp import _engine, _kernels

DTYPES = [np.float32, np.float64]
DTYPE_IDS = ["f32", "f64"]
PATHS = ["own", "blas"]  # gemm=: the engine's kernel, or the BLAS
PATH_IDS = ["own-kernel", "blas"]
# (batch, fan_in, fan_out)
LAYERS = {"wide": (256, 784, 512), "small": (200, 32, 32)}
HIDDEN = ["identity", "logistic", "tanh", "relu", "leaky_relu"]
OUTPUT = ["softmax", "exp"]
ROUNDS = 50


@pytest.fixture(scope="session", autouse=True)
def blas_threads():
    threads = os.environ.get("FASTMLP_BENCH_THREADS")
    if not threads:
        yield None
        return
    with threadpool_limits(limits=int(threads)):
        yield int(threads)


def rng():
    return np.random.default_rng(0)


def layer(shape, dtype):
    b, fi, fo = shape
    r = rng()
    x = r.standard_normal((b, fi)).astype(dtype)
    w = (r.standard_normal((fi, fo)) / np.sqrt(fi)).astype(dtype)
    bias = r.standard_normal(fo).astype(dtype)
    dout = r.standard_normal((b, fo)).astype(dtype)
    return x, w, bias, dout


def flops_info(benchmark, shape, passes):
    b, fi, fo = shape
    benchmark.extra_info["gflop"] = passes * 2 * b * fi * fo / 1e9


# ---- dense layers: GEMM + fused bias/activation, and the backward GEMMs ----

@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("shape", list(LAYERS.values()), ids=list(LAYERS))
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_dense_forward(benchmark, dtype, shape, path):
    x, w, bias, _ = layer(shape, dtype)
    flops_info(benchmark, shape, 1)
    out = benchmark(_kernels.dense_forward, x, w, bias, "relu", gemm=path)
    assert out.shape == (shape[0], shape[2])


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("shape", list(LAYERS.values()), ids=list(LAYERS))
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_dense_backward(benchmark, dtype, shape, path):
    x, w, _, dout = layer(shape, dtype)
    flops_info(benchmark, shape, 2)  # dweight = x^T dout, dinp = dout w^T
    dinp, dweight, dbias = benchmark(_kernels.dense_backward, dout, x, w, gemm=path)
    assert dweight.shape == w.shape and dinp.shape == x.shape


# ---- activations on 256 x 512 ----

def fresh(arr):
    return lambda: ((arr.copy(),), {})


# NumPy twins of the activations and of their derivatives (from the output
# a = act(z)), in float64, to check each benchmark's last result
TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


def numpy_activation(act, z):
    if act == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return {"identity": lambda: z, "logistic": lambda: 1 / (1 + np.exp(-z)),
            "tanh": lambda: np.tanh(z), "relu": lambda: np.maximum(z, 0),
            "leaky_relu": lambda: np.where(z > 0, z, 0.01 * z),
            "exp": lambda: np.exp(z)}[act]()


def numpy_derivative(act, a):
    return {"identity": lambda: np.ones_like(a), "logistic": lambda: a * (1 - a),
            "tanh": lambda: 1 - a * a, "relu": lambda: (a > 0).astype(a.dtype),
            "leaky_relu": lambda: np.where(a > 0, 1.0, 0.01)}[act]()


@pytest.mark.parametrize("act", HIDDEN + OUTPUT)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_bias_activation(benchmark, dtype, act):
    r = rng()
    x = r.standard_normal((256, 512)).astype(dtype)
    bias = r.standard_normal(512).astype(dtype)
    out = benchmark.pedantic(lambda z: _kernels.bias_activation(z, bias, act),
                             setup=fresh(x), rounds=ROUNDS, warmup_rounds=2)
    # the last round's result (outside the timed calls)
    expected = numpy_activation(act, x.astype(np.float64) + bias)
    assert out.shape == x.shape and out.dtype == dtype
    np.testing.assert_allclose(out, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("act", HIDDEN)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_activation_backward(benchmark, dtype, act):
    r = rng()
    a = _kernels.bias_activation(r.standard_normal((256, 512)).astype(dtype), None, act)
    delta = r.standard_normal((256, 512)).astype(dtype)
    out = benchmark.pedantic(lambda d: _kernels.activation_backward(d, a, act),
                             setup=fresh(delta), rounds=ROUNDS, warmup_rounds=2)
    expected = delta.astype(np.float64) * numpy_derivative(act, a.astype(np.float64))
    assert out.shape == delta.shape and out.dtype == dtype
    np.testing.assert_allclose(out, expected, **TOLERANCE[dtype])


# ---- softmax + cross-entropy output delta on 256 x 10 ----

@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_loss_delta_cross_entropy(benchmark, dtype):
    r = rng()
    z = r.standard_normal((256, 10)).astype(dtype)
    y = np.eye(10, dtype=dtype)[r.integers(0, 10, 256)]
    total, delta, _ = benchmark(_kernels.loss_delta, z, y, "cross_entropy")
    assert np.isfinite(total) and delta.shape == z.shape


# ---- optimizer step on 500k parameters ----

@pytest.mark.parametrize("kind", ["adam", "sgd"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_optimizer_step(benchmark, dtype, kind):
    n = 500_000
    r = rng()
    params = r.standard_normal(n).astype(dtype)
    grad = (1e-3 * r.standard_normal(n)).astype(dtype)
    opt = _engine.Optimizer(kind, n, dtype, learning_rate=1e-3)
    benchmark.extra_info["n_params"] = n
    benchmark(opt.step_params, params, grad)
    assert np.isfinite(params).all()


# ---- one training epoch (gather, forward, loss, backward, L2, Adam) ----

EPOCHS = {
    # name: (n_samples, layer sizes, batch size), as in benchmarks/README.md
    "tabular": (50_000, [20, 32, 32, 2], 200),
    "digits": (1797, [64, 100, 10], 200),
}


@pytest.mark.parametrize("workload", list(EPOCHS))
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_train_epoch(benchmark, dtype, workload):
    n, sizes, batch = EPOCHS[workload]
    r = rng()
    X = r.standard_normal((n, sizes[0])).astype(dtype)
    Y = np.eye(sizes[-1], dtype=dtype)[r.integers(0, sizes[-1], n)]
    net = _engine.Network(sizes, ["relu"] * (len(sizes) - 2), "cross_entropy", alpha=1e-4)
    params = r.uniform(-0.1, 0.1, net.n_params).astype(dtype)
    opt = _engine.Optimizer("adam", net.n_params, dtype)
    order = r.permutation(n).astype(np.int64)
    w = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    benchmark.extra_info["gflop"] = n * (6 * w - 2 * sizes[0] * sizes[1]) / 1e9
    loss = benchmark(_engine.train_epoch, net, params, opt, X, Y, None, order, batch)
    assert np.isfinite(loss)
