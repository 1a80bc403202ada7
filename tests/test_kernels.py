"""The engine's building blocks against straightforward NumPy references, in
float32 and float64: activations and their derivatives, output losses (with
numerically extreme logits), dense layers (dense and CSR input), optimizer
updates over several steps, and chunked prediction."""
import numpy as np
import pytest
import scipy.sparse as sp

from _engine_ref import (DTYPES, GEMM_IDS, GEMM_PATHS, HIDDEN_ACTIVATIONS, LOSSES,
                         OUTPUT_ACTIVATION,
                         RefOptimizer, _engine, activation, activation_derivative,
                         forward, init_params, make_problem, per_sample_loss)

DTYPE_IDS = ["f32", "f64"]
# relative tolerances of elementwise results computed in the dtype
RTOL = {np.float32: 2e-6, np.float64: 1e-13}
ALL_ACTIVATIONS = HIDDEN_ACTIVATIONS + ["softmax", "exp"]


def assert_close(actual, expected, rtol, atol=0.0, what=""):
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    diff = np.abs(actual - expected)
    bound = atol + rtol * np.abs(expected)
    bad = ~(diff <= bound)
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, diff - bound, -np.inf)), diff.shape)
        rel = diff / np.maximum(np.abs(expected), 1e-300)
        raise AssertionError(
            f"{what}: {bad.sum()} of {diff.size} elements differ; max abs diff "
            f"{np.nanmax(diff):.3e}, max rel diff {np.nanmax(rel):.3e} "
            f"(rtol {rtol:g}, atol {atol:g}); worst at {i}: {actual[i]!r} vs {expected[i]!r}")


# ---- bias_activation ----

@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("act", ALL_ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_bias_activation(dtype, act, with_bias):
    rng = np.random.default_rng(0)
    x = (3 * rng.standard_normal((9, 7))).astype(dtype)
    x[0, :3] = [0.0, -0.0, 1e-30]  # around the relu kink
    bias = (rng.standard_normal(7)).astype(dtype) if with_bias else None
    z = x.astype(np.float64) + (0 if bias is None else bias.astype(np.float64))
    expected = activation(act, z, 0.3)
    out = _engine.bias_activation(x, bias, act, leaky_relu_slope=0.3)
    assert out is x, "must work in place and return x"
    assert_close(x, expected, 4 * RTOL[dtype], atol=1e-300, what=f"{act}")
    if act == "softmax":
        assert_close(x.sum(axis=1), np.ones(9), 10 * RTOL[dtype], what="softmax row sums")


@pytest.mark.parametrize("act", ["logistic", "tanh", "softmax", "relu", "leaky_relu"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_bias_activation_extreme_inputs(dtype, act):
    """Saturating activations stay finite and exact at +-1000 (no overflow)."""
    x = np.array([[1000, -1000, 0, 50, -50], [-1000, -1000, -1000, -1000, -999]], dtype)
    expected = activation(act, x.astype(np.float64), 0.01)
    with np.errstate(all="raise"):
        _engine.bias_activation(x, None, act)
    assert np.all(np.isfinite(x)), x
    assert_close(x, expected, 4 * RTOL[dtype], atol=np.finfo(dtype).tiny, what=act)


# ---- activation_backward ----

@pytest.mark.parametrize("act", HIDDEN_ACTIVATIONS + ["exp"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_activation_backward(dtype, act):
    rng = np.random.default_rng(1)
    z = (2 * rng.standard_normal((6, 5))).astype(dtype)
    z[0, 0] = 0
    a = activation(act, z, 0.2).astype(dtype)
    delta = rng.standard_normal((6, 5)).astype(dtype)
    # act'(z) from a, in the dtype as the engine does (1 - a*a for tanh
    # cancels near saturation whatever the precision of the reference)
    expected = delta * activation_derivative(act, a, 0.2)
    out = _engine.activation_backward(delta, a, act, leaky_relu_slope=0.2)
    assert out is delta
    assert_close(delta, expected, 4 * RTOL[dtype], what=f"{act} backward")
    if act in ("relu", "leaky_relu"):
        # piecewise linear: the result is exactly delta, 0 or slope * delta
        np.testing.assert_array_equal(delta, expected)


# ---- loss_delta ----

def check_loss_delta(z, y, loss, sw, dtype):
    total, delta, a = _engine.loss_delta(z, y, loss, sw)
    assert delta.dtype == dtype and a.dtype == dtype
    a_ref = activation(OUTPUT_ACTIVATION[loss], z.astype(np.float64))
    w = np.ones(len(z)) if sw is None else sw.astype(np.float64)
    # the binary loss is log(1 - p) of the engine's own p (scikit-learn's
    # form), ill-conditioned near p = 1: evaluate it there, check p below
    a_for_loss = a if loss == "binary_cross_entropy" else a_ref
    ref_total = float(np.dot(w, per_sample_loss(loss, z, a_for_loss, y, dtype)))
    assert np.isfinite(total) and np.all(np.isfinite(delta)) and np.all(np.isfinite(a))
    eps = np.finfo(dtype).eps
    # log-sum-exp in the dtype loses about eps * |z| per row: the condition
    # of the loss in z, not the size of the loss
    scale = abs(ref_total) + float(np.dot(w, 1 + np.abs(z.astype(np.float64)).max(1)))
    assert abs(total - ref_total) <= 8 * eps * scale, (
        f"{loss}: loss {total!r} vs reference {ref_total!r}, "
        f"diff {abs(total - ref_total):.3e}")
    assert_close(a, a_ref, 4 * RTOL[dtype], atol=np.finfo(dtype).tiny, what=f"{loss} a")
    assert_close(delta, w[:, None] * (a_ref - y.astype(np.float64)), 4 * RTOL[dtype],
                 atol=4 * eps * (1 + np.abs(y).max()) * w.max(), what=f"{loss} delta")
    return total


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_loss_delta(dtype, loss, weighted):
    rng = np.random.default_rng(2)
    z = (1.5 * rng.standard_normal((20, 4))).astype(dtype)
    _, y = make_problem(loss, 20, 1, 4, dtype, rng)
    if loss == "binary_cross_entropy":
        y[:3] = rng.uniform(0, 1, (3, 4))  # soft targets too
    sw = rng.uniform(0, 3, 20).astype(dtype) if weighted else None
    check_loss_delta(z, y, loss, sw, dtype)


@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_loss_delta_extreme_logits(dtype, loss):
    """Logits of +-1000: finite loss and delta, log-probabilities clipped at
    [log eps, log(1 - eps)] exactly like the reference."""
    z = np.array([[1000, -1000, 0], [-1000, 1000, -1000], [1000, 1000, -1000],
                  [0, 0, 0], [-1000, -1000, -1000], [30, -30, 0]], dtype)
    if loss == "cross_entropy":
        # each target class in turn: the right extreme, the wrong extreme, middle
        for k in range(3):
            y = np.zeros_like(z)
            y[:, k] = 1
            total = check_loss_delta(z, y, loss, None, dtype)
            assert total > 0
    else:
        for y in (np.zeros_like(z), np.ones_like(z), (z > 0).astype(dtype),
                  (z < 0).astype(dtype)):
            check_loss_delta(z, y, loss, None, dtype)
    # a confidently wrong prediction costs exactly -log(eps) per unit
    y = np.zeros((1, 3), dtype)
    y[0, 1] = 1
    total, _, _ = _engine.loss_delta(np.array([[1000, -1000, 0]], dtype), y, loss)
    eps = np.finfo(dtype).eps
    if loss == "cross_entropy":
        expected = -np.log(np.float64(eps))
    else:
        # unit 0: y=0, p=1 -> -log(eps); unit 1: y=1, p=0 -> -log(eps);
        # unit 2: p=0.5 -> log(2)
        expected = -2 * np.log(np.float64(eps)) + np.log(2)
    assert abs(total - expected) <= 1e-5 * expected, f"{total!r} vs {expected!r}"


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_loss_delta_poisson_zero_counts(dtype):
    """y = 0 contributes exp(z) (0 log 0 = 0); large negative z stays finite."""
    z = np.array([[-50, 0, 2], [-1000, 1, 0.5]], dtype)
    y = np.array([[0, 0, 3], [0, 2, 0]], dtype)
    check_loss_delta(z, y, "poisson", None, dtype)


# ---- dense layers ----

def random_csr(rng, shape, density, dtype):
    X = rng.standard_normal(shape) * (rng.random(shape) < density)
    X[1] = 0  # an empty row
    return sp.csr_matrix(X.astype(dtype))


@pytest.mark.parametrize("act", HIDDEN_ACTIVATIONS + ["softmax", "exp"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("gemm", GEMM_IDS)
def test_dense_forward(gemm, dtype, act):
    kw = GEMM_PATHS[gemm]
    rng = np.random.default_rng(3)
    B, IN, OUT = 11, 7, 5
    inp = rng.standard_normal((B, IN)).astype(dtype)
    W = (0.5 * rng.standard_normal((IN, OUT))).astype(dtype)
    b = rng.standard_normal(OUT).astype(dtype)
    expected = activation(act, inp.astype(np.float64) @ W.astype(np.float64) + b, 0.05)
    out = _engine.dense_forward(inp, W, b, act, leaky_relu_slope=0.05, **kw)
    assert out.dtype == dtype
    tol = 50 * RTOL[dtype]
    assert_close(out, expected, tol, atol=tol * np.abs(expected).max(), what=act)
    # CSR input equals dense input
    Xs = random_csr(rng, (B, IN), 0.4, dtype)
    Xd = Xs.toarray()
    out_s = _engine.dense_forward(Xs, W, b, act, leaky_relu_slope=0.05)
    out_d = _engine.dense_forward(Xd, W, b, act, leaky_relu_slope=0.05, **kw)
    assert_close(out_s, out_d, tol, atol=tol * np.abs(out_d).max(), what=f"{act} CSR")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("gemm", GEMM_IDS)
def test_dense_backward(gemm, dtype):
    kw = GEMM_PATHS[gemm]
    rng = np.random.default_rng(4)
    B, IN, OUT = 13, 6, 4
    inp = rng.standard_normal((B, IN)).astype(dtype)
    W = rng.standard_normal((IN, OUT)).astype(dtype)
    dout = rng.standard_normal((B, OUT)).astype(dtype)
    i64, w64, d64 = (a.astype(np.float64) for a in (inp, W, dout))
    dinp, dW, db = _engine.dense_backward(dout, inp, W, **kw)
    tol = 50 * RTOL[dtype]
    assert_close(dW, i64.T @ d64, tol, atol=tol * np.abs(i64.T @ d64).max(), what="dW")
    assert_close(db, d64.sum(0), tol, atol=tol * np.abs(d64.sum(0)).max(), what="db")
    assert_close(dinp, d64 @ w64.T, tol, atol=tol * np.abs(d64 @ w64.T).max(), what="dinp")
    # CSR: the same dW and db, no input gradient
    Xs = random_csr(rng, (B, IN), 0.3, dtype)
    dinp_s, dW_s, db_s = _engine.dense_backward(dout, Xs, W, **kw)
    _, dW_d, db_d = _engine.dense_backward(dout, Xs.toarray(), W, **kw)
    assert dinp_s is None
    assert_close(dW_s, dW_d, tol, atol=tol * np.abs(dW_d).max(), what="CSR dW")
    assert_close(db_s, db_d, tol, atol=tol * np.abs(db_d).max(), what="CSR db")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_dense_csr_noncanonical(dtype):
    """Unsorted column indices and duplicate entries (summed, as scipy does),
    int32 index arrays, columns never used."""
    data = np.array([1.0, 2.0, -1.0, 0.5, 3.0, 4.0], dtype)
    indices = np.array([3, 0, 3, 2, 0, 0], np.int32)
    indptr = np.array([0, 3, 3, 6], np.int32)
    Xs = sp.csr_matrix((data, indices, indptr), shape=(3, 5))
    assert not Xs.has_canonical_format
    Xd = Xs.toarray()  # sums duplicates
    rng = np.random.default_rng(5)
    W = rng.standard_normal((5, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    tol = 50 * RTOL[dtype]
    assert_close(_engine.dense_forward(Xs, W, b, "tanh"),
                 _engine.dense_forward(Xd, W, b, "tanh"), tol, atol=tol, what="forward")
    dout = rng.standard_normal((3, 3)).astype(dtype)
    _, dW_s, db_s = _engine.dense_backward(dout, Xs, W)
    _, dW_d, db_d = _engine.dense_backward(dout, Xd, W)
    assert_close(dW_s, dW_d, tol, atol=tol, what="dW")
    assert_close(db_s, db_d, tol, atol=tol, what="db")


# shapes around a blocked small-matrix kernel's edges (row blocks of 4, 6 or
# 8, vectors of 8 float32 / 4 float64 columns, panels of 2 vectors, column
# tails, K split in blocks of 128) and BLAS edge cases; the backward products
# use B as their inner dimension, so large B covers long K there
GEMM_SHAPES = [(1, 1, 1), (3, 5, 7), (4, 8, 16), (5, 3, 8), (13, 7, 17), (9, 33, 24),
               (17, 3, 40), (8, 16, 4), (2, 100, 3), (31, 1, 9), (6, 12, 33), (7, 6, 6),
               (12, 9, 10), (25, 14, 23), (7, 300, 5), (13, 129, 19), (6, 257, 3),
               (300, 7, 5), (129, 13, 19), (257, 6, 3), (1, 64, 1), (64, 1, 64)]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("gemm", GEMM_IDS)
def test_dense_layer_shapes(gemm, dtype):
    kw = GEMM_PATHS[gemm]
    rng = np.random.default_rng(12)
    tol = 50 * RTOL[dtype]
    for B, IN, OUT in GEMM_SHAPES:
        what = f"(B, IN, OUT) = {(B, IN, OUT)}"
        inp = rng.standard_normal((B, IN)).astype(dtype)
        W = rng.standard_normal((IN, OUT)).astype(dtype)
        b = rng.standard_normal(OUT).astype(dtype)
        dout = rng.standard_normal((B, OUT)).astype(dtype)
        i64, w64, d64 = (a.astype(np.float64) for a in (inp, W, dout))
        ref = i64 @ w64 + b
        scale = np.abs(i64) @ np.abs(w64) + np.abs(b)  # bounds the rounding error
        out = _engine.dense_forward(inp, W, b, "identity", **kw)
        assert_close(out, ref, 0, atol=tol * scale.max(), what=f"forward {what}")
        dinp, dW, db = _engine.dense_backward(dout, inp, W, **kw)
        assert_close(dW, i64.T @ d64, 0, atol=tol * (np.abs(i64.T) @ np.abs(d64)).max(),
                     what=f"dW {what}")
        assert_close(db, d64.sum(0), 0, atol=tol * np.abs(d64).sum(0).max(), what=f"db {what}")
        assert_close(dinp, d64 @ w64.T, 0, atol=tol * (np.abs(d64) @ np.abs(w64.T)).max(),
                     what=f"dinp {what}")


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "tanh"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_dense_forward_fused_epilogue(dtype, act):
    """The small kernel adds the bias and applies relu / leaky relu while the
    tile is in registers: every block shape (6x2 vectors, 1 vector, padded
    tail) against NumPy, and NaN rows stay NaN as np.maximum keeps them."""
    rng = np.random.default_rng(21)
    tol = 50 * RTOL[dtype]
    for B, IN, OUT in GEMM_SHAPES + [(20, 9, 70), (7, 5, 64)]:
        inp = rng.standard_normal((B, IN)).astype(dtype)
        inp[B // 2, 0] = np.nan
        W = rng.standard_normal((IN, OUT)).astype(dtype)
        b = rng.standard_normal(OUT).astype(dtype)
        z = inp.astype(np.float64) @ W.astype(np.float64) + b
        expected = activation(act, z, 0.1)
        out = _engine.dense_forward(inp, W, b, act, leaky_relu_slope=0.1,
                                    small_gemm_max=np.inf)
        nan_rows = np.isnan(z).any(axis=1)
        assert np.isnan(out[nan_rows]).all(), f"{act} {(B, IN, OUT)}: NaN lost"
        finite = ~nan_rows
        assert_close(out[finite], expected[finite], tol,
                     atol=tol * (np.abs(inp[finite]) @ np.abs(W) + np.abs(b)).max(initial=0),
                     what=f"{act} {(B, IN, OUT)}")


@pytest.mark.parametrize("gemm", GEMM_IDS)
def test_dense_backward_zero_rows(gemm):
    W = np.ones((3, 2))
    dinp, dW, db = _engine.dense_backward(np.zeros((0, 2)), np.zeros((0, 3)), W,
                                          **GEMM_PATHS[gemm])
    assert dinp.shape == (0, 3)
    np.testing.assert_array_equal(dW, np.zeros((3, 2)))
    np.testing.assert_array_equal(db, np.zeros(2))


# ---- optimizers ----

OPT_CASES = [
    ("sgd", dict(momentum=0.0, nesterov=False)),
    ("sgd", dict(momentum=0.0, nesterov=True)),
    ("sgd", dict(momentum=0.9, nesterov=False)),
    ("sgd", dict(momentum=0.9, nesterov=True)),
    ("adam", dict(beta_1=0.9, beta_2=0.999, epsilon=1e-8)),
    ("adam", dict(beta_1=0.5, beta_2=0.9, epsilon=1e-3)),
    ("rmsprop", dict(beta_2=0.9, epsilon=1e-8)),
    ("rmsprop", dict(beta_2=0.5, epsilon=1e-4)),
]
OPT_IDS = ["sgd-plain", "sgd-nesterov-mom0", "sgd-momentum", "sgd-nesterov",
           "adam", "adam-custom", "rmsprop", "rmsprop-custom"]


@pytest.mark.parametrize("kind,kw", OPT_CASES, ids=OPT_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_optimizer_steps(dtype, kind, kw):
    rng = np.random.default_rng(6)
    n = 37
    params = rng.standard_normal(n).astype(dtype)
    ref_params = params.copy()
    opt = _engine.Optimizer(kind, n, dtype, learning_rate=0.05, **kw)
    ref = RefOptimizer(kind, n, dtype, learning_rate=0.05, **kw)
    rtol = {np.float32: 1e-5, np.float64: 1e-13}[dtype]
    for it in range(8):
        if it == 5:  # a learning-rate schedule changes it between calls
            opt.learning_rate = ref.lr = 0.01
        grad = (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 2)).astype(dtype)
        opt.step_params(params, grad)
        ref.update(ref_params, grad)
        assert opt.step == ref.step == it + 1
        assert params.dtype == dtype
        assert_close(params, ref_params, rtol, atol=rtol, what=f"{kind} params, step {it + 1}")
        if kind in ("sgd", "adam"):
            assert_close(opt.moment_1, ref.m1, rtol, atol=rtol * np.abs(ref.m1).max(),
                         what=f"{kind} moment_1")
        if kind in ("adam", "rmsprop"):
            assert_close(opt.moment_2, ref.m2, rtol, atol=rtol * np.abs(ref.m2).max(),
                         what=f"{kind} moment_2")


def test_optimizer_adam_resumes_from_step():
    """Adam's bias correction uses the stored step count."""
    rng = np.random.default_rng(7)
    n = 10
    m1, m2 = rng.standard_normal(n), rng.uniform(0.1, 1, n)
    opt = _engine.Optimizer("adam", n, np.float64, learning_rate=0.1, step=4,
                            moment_1=m1.copy(), moment_2=m2.copy())
    ref = RefOptimizer("adam", n, np.float64, learning_rate=0.1)
    ref.m1, ref.m2, ref.step = m1.copy(), m2.copy(), 4
    p, q = np.zeros(n), np.zeros(n)
    g = rng.standard_normal(n)
    opt.step_params(p, g)
    ref.update(q, g)
    assert opt.step == 5
    assert_close(p, q, 1e-13, atol=1e-15, what="adam resumed")


def test_optimizer_first_sgd_step_is_plain_gradient_step():
    """Hand-computed values: first sgd step = -lr*g (nesterov: -(1+mu) lr g)."""
    g = np.array([1.0, -2.0, 0.5])
    for nesterov, factor in ((False, 1.0), (True, 1.9)):
        opt = _engine.Optimizer("sgd", 3, np.float64, learning_rate=0.1, momentum=0.9,
                                nesterov=nesterov)
        p = np.zeros(3)
        opt.step_params(p, g)
        np.testing.assert_allclose(p, -0.1 * factor * g, rtol=1e-15)
        np.testing.assert_allclose(opt.moment_1, -0.1 * g, rtol=1e-15)


# ---- predict ----

PREDICT_SIZES = (6, 9, 2, 11, 4, 3)  # 4 hidden layers: every ping-pong buffer


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("gemm", GEMM_IDS)
def test_predict_matches_numpy_forward(gemm, dtype, loss):
    rng = np.random.default_rng(8)
    net = _engine.Network(PREDICT_SIZES, ["relu", "tanh", "logistic", "leaky_relu"], loss,
                          leaky_relu_slope=0.1, **GEMM_PATHS[gemm])
    params = init_params(net, dtype, rng)
    N = 30
    X = rng.standard_normal((N, PREDICT_SIZES[0])).astype(dtype)
    expected = forward(net, params.astype(np.float64), X.astype(np.float64))[-1]
    tol = 100 * RTOL[dtype]
    full = _engine.predict(net, params, X)
    assert full.shape == (N, net.n_outputs) and full.dtype == dtype
    assert_close(full, expected, tol, atol=tol * np.abs(expected).max(), what="predict")
    for chunk in (1, 4, 7, 29, 30, 31, 1000):  # 7 and 4 do not divide 30
        out = np.full((N, net.n_outputs), np.nan, dtype)
        res = _engine.predict(net, params, X, out=out, chunk_rows=chunk)
        assert res is out
        assert_close(out, full, tol, atol=tol * np.abs(full).max(),
                     what=f"chunk_rows={chunk}")
    # CSR input, chunked
    Xs = random_csr(rng, (N, PREDICT_SIZES[0]), 0.5, dtype)
    exp_s = _engine.predict(net, params, Xs.toarray())
    for chunk in (7, 4096):
        got = _engine.predict(net, params, Xs, chunk_rows=chunk)
        assert_close(got, exp_s, tol, atol=tol * np.abs(exp_s).max(),
                     what=f"CSR chunk_rows={chunk}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_predict_no_hidden_layer_and_empty_input(dtype):
    rng = np.random.default_rng(9)
    net = _engine.Network((4, 3), [], "cross_entropy")
    params = init_params(net, dtype, rng)
    X = rng.standard_normal((5, 4)).astype(dtype)
    expected = forward(net, params.astype(np.float64), X.astype(np.float64))[-1]
    assert_close(_engine.predict(net, params, X, chunk_rows=2), expected, 100 * RTOL[dtype],
                 atol=100 * RTOL[dtype], what="single layer")
    empty = _engine.predict(net, params, np.zeros((0, 4), dtype))
    assert empty.shape == (0, 3)


# ---- the engine's own exp (softmax, logistic, exp output) ----

@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_exp_accuracy_over_the_whole_range(dtype):
    """The branch-free exp is within 2 ulp of the exact value for normal
    results, within one subnormal step below, and exact at the specials."""
    info = np.finfo(dtype)
    top = float(np.log(info.max))
    rng = np.random.default_rng(30)
    x = np.concatenate([rng.uniform(-1.05 * top - 20, 1.02 * top, 100_000),
                        rng.uniform(-3, 3, 50_000)]).astype(dtype)
    out = _engine.bias_activation(x[None, :].copy(), None, "exp")[0]
    exact = np.exp(x.astype(np.longdouble))
    with np.errstate(over="ignore"):
        rounded = exact.astype(dtype)
    normal = np.isfinite(rounded) & (rounded >= info.tiny)
    ulps = np.abs(out[normal] - exact[normal]) / np.spacing(rounded[normal]).astype(np.longdouble)
    assert ulps.max() <= 2, f"max error {float(ulps.max()):.2f} ulp"
    below = rounded < info.tiny
    step = np.abs(out[below] - exact[below]) / info.smallest_subnormal
    assert step.max() <= 1, f"subnormal results off by {float(step.max()):.2f} steps"
    assert np.all(out[~np.isfinite(rounded)] == np.inf)
    specials = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], dtype)
    got = _engine.bias_activation(specials[None, :].copy(), None, "exp")[0]
    np.testing.assert_array_equal(got, [np.inf, 0.0, np.nan, 1.0, 1.0])


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_tanh_accuracy(dtype):
    """The branch-free tanh (through expm1, no cancellation near 0) is within
    3 ulp everywhere, tiny arguments included, and keeps the specials."""
    rng = np.random.default_rng(31)
    x = np.concatenate([rng.uniform(-25, 25, 50_000), rng.uniform(-1, 1, 50_000),
                        10.0 ** rng.uniform(-30, -3, 20_000) * rng.choice([-1, 1], 20_000)])
    x = x.astype(dtype)
    out = _engine.bias_activation(x[None, :].copy(), None, "tanh")[0]
    exact = np.tanh(x.astype(np.longdouble))
    ulps = np.abs(out - exact) / np.spacing(np.abs(exact.astype(dtype))).astype(np.longdouble)
    assert ulps.max() <= 3, f"max error {float(ulps.max()):.2f} ulp at x={x[np.argmax(ulps)]!r}"
    specials = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], dtype)
    got = _engine.bias_activation(specials[None, :].copy(), None, "tanh")[0]
    np.testing.assert_array_equal(got, [1.0, -1.0, np.nan, 0.0, -0.0])
    assert np.signbit(got[-1])
