"""The engine's building blocks against straightforward NumPy references, in
float32 and float64: activations and their derivatives, output losses (with
numerically extreme logits), dense layers (dense and CSR input), optimizer
updates over several steps (AdamW, gradient clipping), chunked prediction,
and the regularizer kernels: batch normalization (forward with running
statistics, backward) and dropout (its hash-defined masks bit for bit, and
their statistics)."""
import numpy as np
import pytest
import scipy.sparse as sp

from _engine_ref import (ALL_HIDDEN_ACTIVATIONS, DTYPES, GEMM_IDS, GEMM_PATHS, LOSSES,
                         NEW_ACTIVATIONS, OUTPUT_ACTIVATION, SLOPE_FROM_INPUT, RefOptimizer,
                         _engine, _kernels, activation, activation_slope, apply_dropout, batch_norm_backward,
                         batch_norm_forward, dropout_mask, dropout_threshold, forward,
                         init_params, make_problem, per_sample_loss)

DTYPE_IDS = ["f32", "f64"]
# relative tolerances of elementwise results computed in the dtype
RTOL = {np.float32: 2e-6, np.float64: 1e-13}
ALL_ACTIVATIONS = ALL_HIDDEN_ACTIVATIONS + ["softmax", "exp"]


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
    out = _kernels.bias_activation(x, bias, act, leaky_relu_slope=0.3)
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
        _kernels.bias_activation(x, None, act)
    assert np.all(np.isfinite(x)), x
    assert_close(x, expected, 4 * RTOL[dtype], atol=np.finfo(dtype).tiny, what=act)


# ---- activation_backward ----

@pytest.mark.parametrize("act", ALL_HIDDEN_ACTIVATIONS + ["exp"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_activation_backward(dtype, act):
    rng = np.random.default_rng(1)
    z = (2 * rng.standard_normal((6, 5))).astype(dtype)
    z[0, 0] = 0
    a = activation(act, z, 0.2).astype(dtype)
    delta = rng.standard_normal((6, 5)).astype(dtype)
    # act'(z) from a, in the dtype as the engine does (1 - a*a for tanh
    # cancels near saturation whatever the precision of the reference);
    # gelu and swish take z instead of a
    expected = delta * activation_slope(act, z, a, 0.2)
    saved = z if act in SLOPE_FROM_INPUT else a
    out = _kernels.activation_backward(delta, saved, act, leaky_relu_slope=0.2)
    assert out is delta
    # gelu' and swish' have roots, where only an absolute bound holds (their
    # accuracy is checked closely in test_new_activation_derivatives)
    atol = 4 * RTOL[dtype] * np.abs(expected).max() if act in NEW_ACTIVATIONS else 0.0
    assert_close(delta, expected, 4 * RTOL[dtype], atol=atol, what=f"{act} backward")
    if act in ("relu", "leaky_relu"):
        # piecewise linear: the result is exactly delta, 0 or slope * delta
        np.testing.assert_array_equal(delta, expected)


# ---- loss_delta ----

def check_loss_delta(z, y, loss, sw, dtype):
    total, delta, a = _kernels.loss_delta(z, y, loss, sw)
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
    total, _, _ = _kernels.loss_delta(np.array([[1000, -1000, 0]], dtype), y, loss)
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


@pytest.mark.parametrize("act", ALL_HIDDEN_ACTIVATIONS + ["softmax", "exp"])
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
    out = _kernels.dense_forward(inp, W, b, act, leaky_relu_slope=0.05, **kw)
    assert out.dtype == dtype
    tol = 50 * RTOL[dtype]
    assert_close(out, expected, tol, atol=tol * np.abs(expected).max(), what=act)
    # CSR input equals dense input
    Xs = random_csr(rng, (B, IN), 0.4, dtype)
    Xd = Xs.toarray()
    out_s = _kernels.dense_forward(Xs, W, b, act, leaky_relu_slope=0.05)
    out_d = _kernels.dense_forward(Xd, W, b, act, leaky_relu_slope=0.05, **kw)
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
    dinp, dW, db = _kernels.dense_backward(dout, inp, W, **kw)
    tol = 50 * RTOL[dtype]
    assert_close(dW, i64.T @ d64, tol, atol=tol * np.abs(i64.T @ d64).max(), what="dW")
    assert_close(db, d64.sum(0), tol, atol=tol * np.abs(d64.sum(0)).max(), what="db")
    assert_close(dinp, d64 @ w64.T, tol, atol=tol * np.abs(d64 @ w64.T).max(), what="dinp")
    # CSR: the same dW and db, no input gradient
    Xs = random_csr(rng, (B, IN), 0.3, dtype)
    dinp_s, dW_s, db_s = _kernels.dense_backward(dout, Xs, W, **kw)
    _, dW_d, db_d = _kernels.dense_backward(dout, Xs.toarray(), W, **kw)
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
    assert_close(_kernels.dense_forward(Xs, W, b, "tanh"),
                 _kernels.dense_forward(Xd, W, b, "tanh"), tol, atol=tol, what="forward")
    dout = rng.standard_normal((3, 3)).astype(dtype)
    _, dW_s, db_s = _kernels.dense_backward(dout, Xs, W)
    _, dW_d, db_d = _kernels.dense_backward(dout, Xd, W)
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
        out = _kernels.dense_forward(inp, W, b, "identity", **kw)
        assert_close(out, ref, 0, atol=tol * scale.max(), what=f"forward {what}")
        dinp, dW, db = _kernels.dense_backward(dout, inp, W, **kw)
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
        out = _kernels.dense_forward(inp, W, b, act, leaky_relu_slope=0.1, gemm="own")
        nan_rows = np.isnan(z).any(axis=1)
        assert np.isnan(out[nan_rows]).all(), f"{act} {(B, IN, OUT)}: NaN lost"
        finite = ~nan_rows
        assert_close(out[finite], expected[finite], tol,
                     atol=tol * (np.abs(inp[finite]) @ np.abs(W) + np.abs(b)).max(initial=0),
                     what=f"{act} {(B, IN, OUT)}")


@pytest.mark.parametrize("gemm", GEMM_IDS)
def test_dense_backward_zero_rows(gemm):
    W = np.ones((3, 2))
    dinp, dW, db = _kernels.dense_backward(np.zeros((0, 2)), np.zeros((0, 3)), W,
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


def check_optimizer_against_reference(dtype, kind, kw, seed, n_weights=0):
    """Eight steps of the engine's optimizer and of the reference on the same
    gradients (of varied scales, the learning rate changed between calls as a
    schedule does); parameters and moments compared after every step."""
    rng = np.random.default_rng(seed)
    n = 37
    params = rng.standard_normal(n).astype(dtype)
    ref_params = params.copy()
    opt = _engine.Optimizer(kind, n, dtype, learning_rate=0.05, **kw)
    ref = RefOptimizer(kind, n, dtype, learning_rate=0.05, **kw)
    rtol = {np.float32: 1e-5, np.float64: 1e-13}[dtype]
    for it in range(8):
        if it == 5:
            opt.learning_rate = ref.lr = 0.01
        grad = (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 2)).astype(dtype)
        opt.step_params(params, grad, n_weights)
        ref.update(ref_params, grad, n_weights)
        assert opt.step == ref.step == it + 1
        assert params.dtype == dtype
        assert_close(params, ref_params, rtol, atol=rtol,
                     what=f"{kind} params, step {it + 1}, n_weights {n_weights}")
        if kind in ("sgd", "adam", "adamw"):
            assert_close(opt.moment_1, ref.m1, rtol, atol=rtol * np.abs(ref.m1).max(),
                         what=f"{kind} moment_1")
        if kind in ("adam", "adamw", "rmsprop"):
            assert_close(opt.moment_2, ref.m2, rtol, atol=rtol * np.abs(ref.m2).max(),
                         what=f"{kind} moment_2")


@pytest.mark.parametrize("kind,kw", OPT_CASES, ids=OPT_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_optimizer_steps(dtype, kind, kw):
    check_optimizer_against_reference(dtype, kind, kw, seed=6)


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


ADAMW_CASES = [
    ("adamw", dict(beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.3)),
    ("adamw", dict(beta_1=0.5, beta_2=0.9, epsilon=1e-3, weight_decay=2.0)),
]
ADAMW_IDS = ["adamw", "adamw-custom"]


@pytest.mark.parametrize("n_weights", [0, 20, 37])
@pytest.mark.parametrize("kind,kw", ADAMW_CASES, ids=ADAMW_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_optimizer_adamw(dtype, kind, kw, n_weights):
    """AdamW against the reference: the first n_weights entries decay by
    (1 - lr * weight_decay) each step, the others follow Adam."""
    check_optimizer_against_reference(dtype, kind, kw, seed=60, n_weights=n_weights)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_optimizer_adamw_decay_is_decoupled(dtype):
    """With a zero gradient Adam's step is 0: AdamW multiplies each weight by
    exactly (1 - lr * weight_decay) per step (the base learning rate, no bias
    correction) and leaves the other entries alone; with weight_decay 0 it
    is Adam, bit for bit."""
    T = np.dtype(dtype).type
    rng = np.random.default_rng(61)
    p0 = rng.standard_normal(12).astype(dtype)
    opt = _engine.Optimizer("adamw", 12, dtype, learning_rate=0.1, weight_decay=0.5)
    p = p0.copy()
    expected = p0.copy()
    for _ in range(4):
        opt.step_params(p, np.zeros(12, dtype), 7)
        expected[:7] = T(1 - 0.1 * 0.5) * expected[:7]
    np.testing.assert_array_equal(p, expected)
    np.testing.assert_array_equal(p[7:], p0[7:])
    # weight_decay 0: Adam exactly, whatever n_weights
    a = _engine.Optimizer("adamw", 12, dtype, learning_rate=0.1)
    b = _engine.Optimizer("adam", 12, dtype, learning_rate=0.1)
    pa, pb = p0.copy(), p0.copy()
    for _ in range(3):
        g = rng.standard_normal(12).astype(dtype)
        a.step_params(pa, g, 12)
        b.step_params(pb, g, 12)
    np.testing.assert_array_equal(pa, pb)
    np.testing.assert_array_equal(a.moment_2, b.moment_2)


@pytest.mark.parametrize("kind,kw", OPT_CASES + ADAMW_CASES, ids=OPT_IDS + ADAMW_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_optimizer_max_grad_norm(dtype, kind, kw):
    """Every optimizer with clipping against the reference, over steps whose
    gradients are longer than max_grad_norm and steps whose are shorter."""
    rng = np.random.default_rng(62)
    n = 37
    params = rng.standard_normal(n).astype(dtype)
    ref_params = params.copy()
    opt = _engine.Optimizer(kind, n, dtype, learning_rate=0.05, max_grad_norm=1.5, **kw)
    ref = RefOptimizer(kind, n, dtype, learning_rate=0.05, max_grad_norm=1.5, **kw)
    rtol = {np.float32: 1e-5, np.float64: 1e-13}[dtype]
    for it in range(10):
        scale = 10.0 ** [-2, 1, 0.5, -1, 2][it % 5] / np.sqrt(n)
        grad = (rng.standard_normal(n) * scale).astype(dtype)
        opt.step_params(params, grad, 30)
        ref.update(ref_params, grad, 30)
        assert_close(params, ref_params, rtol, atol=rtol, what=f"{kind} params, step {it + 1}")
    assert 2 <= ref.n_clipped <= 8  # both branches taken
    if kind != "rmsprop":
        assert_close(opt.moment_1, ref.m1, rtol, atol=rtol * np.abs(ref.m1).max(), what="m1")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_optimizer_clipped_step_has_max_norm(dtype):
    """Plain SGD with learning rate 1 moves params by -g: a gradient longer
    than max_grad_norm moves them by exactly max_grad_norm along -g (the norm
    over every entry, weights or not); a shorter one is untouched, bit for
    bit the step of an optimizer without clipping."""
    rng = np.random.default_rng(63)
    n = 40
    tol = {np.float32: 1e-6, np.float64: 1e-14}[dtype]
    for length in (0.3, 2.0, 50.0, 1e4):
        g = rng.standard_normal(n)
        g[:5] *= 1e-3  # most of the length in the non-weight entries
        g = (g * length / np.linalg.norm(g)).astype(dtype)
        clipped = _engine.Optimizer("sgd", n, dtype, learning_rate=1.0, momentum=0.0,
                                    max_grad_norm=1.0)
        plain = _engine.Optimizer("sgd", n, dtype, learning_rate=1.0, momentum=0.0)
        p0 = rng.standard_normal(n).astype(dtype)
        p, q = p0.copy(), p0.copy()
        clipped.step_params(p, g, 5)
        plain.step_params(q, g, 5)
        step = p0.astype(np.float64) - p.astype(np.float64)
        if length <= 1.0:
            np.testing.assert_array_equal(p, q)
        else:
            assert abs(np.linalg.norm(step) - 1.0) < 4 * tol, np.linalg.norm(step)
            direction = g.astype(np.float64) / np.linalg.norm(g.astype(np.float64))
            assert_close(step, direction, 0, atol=8 * tol, what=f"direction, |g| = {length}")


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
    out = _kernels.bias_activation(x[None, :].copy(), None, "exp")[0]
    exact = np.exp(x.astype(np.longdouble))
    with np.errstate(over="ignore"):
        rounded = exact.astype(dtype)
    normal = np.isfinite(rounded) & (rounded >= info.tiny)
    ulps = np.abs(out[normal] - exact[normal]) / np.spacing(rounded[normal]).astype(np.longdouble)
    assert ulps.max() <= 2, f"max error {float(ulps.max()):.2f} ulp"
    below = rounded < info.tiny
    smallest_subnormal = np.nextafter(dtype(0), dtype(1))  # (finfo has it from NumPy 1.22)
    step = np.abs(out[below] - exact[below]) / smallest_subnormal
    assert step.max() <= 1, f"subnormal results off by {float(step.max()):.2f} steps"
    assert np.all(out[~np.isfinite(rounded)] == np.inf)
    specials = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], dtype)
    got = _kernels.bias_activation(specials[None, :].copy(), None, "exp")[0]
    np.testing.assert_array_equal(got, [np.inf, 0.0, np.nan, 1.0, 1.0])


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_tanh_accuracy(dtype):
    """The branch-free tanh (through expm1, no cancellation near 0) is within
    3 ulp everywhere, tiny arguments included, and keeps the specials."""
    rng = np.random.default_rng(31)
    x = np.concatenate([rng.uniform(-25, 25, 50_000), rng.uniform(-1, 1, 50_000),
                        10.0 ** rng.uniform(-30, -3, 20_000) * rng.choice([-1, 1], 20_000)])
    x = x.astype(dtype)
    out = _kernels.bias_activation(x[None, :].copy(), None, "tanh")[0]
    exact = np.tanh(x.astype(np.longdouble))
    ulps = np.abs(out - exact) / np.spacing(np.abs(exact.astype(dtype))).astype(np.longdouble)
    assert ulps.max() <= 3, f"max error {float(ulps.max()):.2f} ulp at x={x[np.argmax(ulps)]!r}"
    specials = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], dtype)
    got = _kernels.bias_activation(specials[None, :].copy(), None, "tanh")[0]
    np.testing.assert_array_equal(got, [1.0, -1.0, np.nan, 0.0, -0.0])
    assert np.signbit(got[-1])


# ---- elu, gelu, swish: accuracy over their range ----

def _exact_logistic(x):
    """logistic(x) in extended precision, no overflow for x of either sign."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def exact_new_activation(act, z):
    """(act(z), act'(z)) in np.longdouble, from forms without cancellation:
    gelu = z logistic(2u) (= 0.5 z (1 + tanh u)), swish = z logistic(z)."""
    z = z.astype(np.longdouble)
    if act == "elu":
        neg = np.minimum(z, 0)
        return np.where(z > 0, z, np.expm1(neg)), np.where(z > 0, 1, np.exp(neg))
    if act == "swish":
        s, q = _exact_logistic(z), _exact_logistic(-z)
        return z * s, s + z * s * q
    if act == "gelu":
        c = np.sqrt(np.longdouble(2) / np.pi)
        cubic = np.longdouble(0.044715)
        u = c * (z + cubic * z ** 3)
        du = c * (1 + 3 * cubic * z ** 2)
        s, q = _exact_logistic(2 * u), _exact_logistic(-2 * u)
        return z * s, s + 2 * z * s * q * du
    raise ValueError(act)


def new_activation_points(dtype, seed):
    rng = np.random.default_rng(seed)
    z = np.concatenate([rng.uniform(-30, 30, 30_000), rng.uniform(-4, 4, 30_000),
                        10.0 ** rng.uniform(-30, -3, 10_000) * rng.choice([-1, 1], 10_000)])
    return z.astype(dtype)


# max error in ulp of the exact value (normal results)
NEW_ACTIVATION_ULPS = 4


@pytest.mark.parametrize("act", NEW_ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_new_activation_accuracy(dtype, act):
    """elu and swish are within a few ulp of the exact value for every normal
    result, tiny and large arguments included; gelu within a few ulp plus
    what its conditioning implies (kappa = |z gelu'(z) / gelu(z)|, about
    2 |u| for z << 0, where exp(2u) amplifies the rounding of u: 2 kappa ulp).
    The textbook form 0.5 z (1 + tanh u) cancels there: -0 for a result of
    -1.4e-17 at z = -7.4, hundreds of ulp at z = -3 where kappa is 10.
    The specials are kept."""
    z = new_activation_points(dtype, 32)
    out = _kernels.bias_activation(z[None, :].copy(), None, act)[0]
    exact, slope = exact_new_activation(act, z)
    rounded = exact.astype(dtype)
    normal = np.abs(rounded) >= np.finfo(dtype).tiny
    assert normal.mean() > 0.7  # most points are checked
    ulps = (np.abs(out[normal] - exact[normal])
            / np.spacing(np.abs(rounded[normal])).astype(np.longdouble))
    allowed = np.full(ulps.shape, float(NEW_ACTIVATION_ULPS))
    if act == "gelu":
        kappa = np.abs(z[normal] * slope[normal] / exact[normal])
        allowed = allowed + 2 * kappa
    worst = np.flatnonzero(normal)[np.argmax(ulps - allowed)]
    assert np.all(ulps <= allowed), (
        f"{act}: error {float(np.max(ulps - allowed)):.3g} ulp above the bound at "
        f"z={z[worst]!r}: {out[worst]!r} vs exact {float(exact[worst])!r}")
    # results below the normal range: at most a few smallest normals off
    tiny = ~normal
    assert np.all(np.abs(out[tiny] - exact[tiny]) <= 4 * np.finfo(dtype).tiny)
    specials = np.array([np.inf, np.nan, 0.0, -0.0], dtype)
    got = _kernels.bias_activation(specials[None, :].copy(), None, act)[0]
    np.testing.assert_array_equal(got, [np.inf, np.nan, 0.0, 0.0])
    if act == "elu":
        got = _kernels.bias_activation(np.array([[-np.inf, -1e30]], dtype), None, act)
        np.testing.assert_array_equal(got, [[-1.0, -1.0]])


@pytest.mark.parametrize("act", NEW_ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_new_activation_derivatives(dtype, act):
    """activation_backward's act'(z) (elu from its output a, gelu and swish
    from z) within a few eps of the exact derivative, relative to
    max(|act'(z)|, 1): the derivative from elu's output is a + 1, exact to
    eps absolutely, and gelu' / swish' have roots."""
    z = new_activation_points(dtype, 33)
    saved = z if act in SLOPE_FROM_INPUT else _kernels.bias_activation(z[None, :].copy(),
                                                                      None, act)[0]
    out = _kernels.activation_backward(np.ones_like(z), saved, act)
    _, exact = exact_new_activation(act, z)
    err = np.abs(out - exact) / np.maximum(np.abs(exact), 1)
    eps = np.finfo(dtype).eps
    worst = int(np.argmax(err))
    assert err.max() <= 4 * eps, (
        f"{act}': max error {float(err.max()) / eps:.3g} eps at z={z[worst]!r}: "
        f"{out[worst]!r} vs exact {float(exact[worst])!r}")
    # and the delta is multiplied in
    delta = np.linspace(-2, 2, z.size).astype(dtype)
    got = _kernels.activation_backward(delta.copy(), saved, act)
    np.testing.assert_array_equal(got, delta * out)


# ---- batch normalization ----

BN_SHAPES = [(1, 4), (2, 3), (13, 5), (64, 7)]
BN_IDS = [f"{b}x{c}" for b, c in BN_SHAPES]


def bn_inputs(dtype, B, C, seed):
    """x with per-column offsets and scales, a constant column when B > 1,
    scales of both signs, shifts, running statistics."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((B, C)) * rng.uniform(0.1, 10, C) + rng.uniform(-5, 5, C))
    if B > 1:
        x[:, 1] = 0.5  # variance 0: xhat 0 exactly (sums of 0.5 are exact)
    gamma = rng.uniform(0.5, 2, C) * rng.choice([-1, 1], C)
    beta = rng.standard_normal(C)
    running_mean, running_var = rng.standard_normal(C), rng.uniform(0.5, 2, C)
    return [a.astype(dtype) for a in (x, gamma, beta, running_mean, running_var)]


@pytest.mark.parametrize("shape", BN_SHAPES, ids=BN_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_batch_norm_forward(dtype, shape):
    B, C = shape
    eps, momentum = 1e-3, 0.3
    x, gamma, beta, rm0, rv0 = bn_inputs(dtype, B, C, 40)
    x0 = x.copy()
    rm, rv = rm0.copy(), rv0.copy()
    out, xhat, inv_std = _kernels.batch_norm_forward(x, gamma, beta, eps, rm, rv, momentum)
    assert out is x, "must work in place and return x"
    assert xhat.shape == (B, C) and inv_std.shape == (C,)
    assert xhat.dtype == inv_std.dtype == dtype
    x64 = x0.astype(np.float64)
    u, xh, mean, var, inv = batch_norm_forward(x64, gamma.astype(np.float64),
                                               beta.astype(np.float64), eps)
    # the rounding of the mean, relative to the spread: |mean| / std per column
    cond = 1 + np.abs(mean) * inv
    tol = 20 * np.finfo(dtype).eps
    assert_close(inv_std, inv, tol, what="inv_std")
    assert_close(xhat, xh, 0, atol=tol * cond.max(), what="xhat")
    assert_close(out, u, 0, atol=tol * (cond * np.abs(gamma) + np.abs(beta)).max(), what="out")
    if B > 1:
        # the constant column: exactly 0 and beta
        np.testing.assert_array_equal(xhat[:, 1], 0)
        np.testing.assert_array_equal(out[:, 1], beta[1])
        # running statistics: the unbiased variance (ddof=1), momentum 0.3
        exp_mean = 0.7 * rm0.astype(np.float64) + 0.3 * x64.mean(axis=0)
        exp_var = 0.7 * rv0.astype(np.float64) + 0.3 * x64.var(axis=0, ddof=1)
        assert_close(rm, exp_mean, tol, atol=tol * np.abs(x64).max(), what="running mean")
        assert_close(rv, exp_var, tol, what="running var")
    else:
        # one row: no variance estimate, the running statistics stay as they were
        np.testing.assert_array_equal(rm, rm0)
        np.testing.assert_array_equal(rv, rv0)
        np.testing.assert_array_equal(xhat, 0)
        np.testing.assert_array_equal(out, np.broadcast_to(beta, (1, C)))
    # without running statistics: the same outputs
    x2 = x0.copy()
    out2, xhat2, inv2 = _kernels.batch_norm_forward(x2, gamma, beta, eps)
    np.testing.assert_array_equal(out2, out)
    np.testing.assert_array_equal(xhat2, xhat)
    np.testing.assert_array_equal(inv2, inv_std)


@pytest.mark.parametrize("momentum", [0.0, 1.0])
def test_batch_norm_momentum_extremes(momentum):
    """momentum 0 keeps the running statistics, 1 replaces them by the batch's."""
    x, gamma, beta, rm0, rv0 = bn_inputs(np.float64, 9, 4, 41)
    rm, rv = rm0.copy(), rv0.copy()
    _kernels.batch_norm_forward(x.copy(), gamma, beta, 1e-5, rm, rv, momentum)
    if momentum == 0:
        np.testing.assert_array_equal(rm, rm0)
        np.testing.assert_array_equal(rv, rv0)
    else:
        np.testing.assert_allclose(rm, x.mean(axis=0), rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(rv, x.var(axis=0, ddof=1), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_batch_norm_forward_large_offset(dtype):
    """Columns of mean 1000 and standard deviation 1: two passes (mean, then
    squared deviations) keep the variance accurate where E[x^2] - E[x]^2
    would cancel (float32: a relative error of order eps * 1e6)."""
    rng = np.random.default_rng(42)
    x = (1000 + rng.standard_normal((200, 3))).astype(dtype)
    var = x.astype(np.float64).var(axis=0)
    _, xhat, inv_std = _kernels.batch_norm_forward(x.copy(), np.ones(3, dtype),
                                                  np.zeros(3, dtype), 1e-30)
    rel = np.abs(inv_std.astype(np.float64) ** -2 - var) / var
    bound = {np.float32: 1e-4, np.float64: 1e-12}[dtype]
    assert rel.max() < bound, f"variance off by {rel.max():.3e} relative"
    assert_close(xhat.std(axis=0, dtype=np.float64), np.ones(3), bound, what="xhat std")


@pytest.mark.parametrize("shape", BN_SHAPES, ids=BN_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_batch_norm_backward(dtype, shape):
    B, C = shape
    x, gamma, beta, _, _ = bn_inputs(dtype, B, C, 43)
    _, xhat, inv_std = _kernels.batch_norm_forward(x.copy(), gamma, beta, 1e-3)
    rng = np.random.default_rng(44)
    delta = rng.standard_normal((B, C)).astype(dtype)
    d = delta.copy()
    dx, dgamma, dbeta = _kernels.batch_norm_backward(d, xhat, inv_std, gamma)
    assert dx is d, "delta is overwritten with d loss / d x"
    assert dgamma.dtype == dbeta.dtype == dtype
    f64 = [a.astype(np.float64) for a in (delta, xhat, inv_std, gamma)]
    ref_dx, ref_dgamma, ref_dbeta = batch_norm_backward(*f64)
    tol = 50 * np.finfo(dtype).eps
    scale = np.abs(f64[0]).sum(axis=0) * (1 + np.abs(f64[1]).max(axis=0))
    assert_close(dgamma, ref_dgamma, 0, atol=tol * scale.max(), what="dgamma")
    assert_close(dbeta, ref_dbeta, 0, atol=tol * scale.max(), what="dbeta")
    assert_close(dx, ref_dx, 0,
                 atol=tol * (np.abs(f64[3]) * f64[2] * scale / B).max(), what="dx")
    if B == 1:  # the output is beta whatever x: no gradient reaches x or gamma
        np.testing.assert_array_equal(dx, 0)
        np.testing.assert_array_equal(dgamma, 0)
        np.testing.assert_array_equal(dbeta, delta[0])


def test_batch_norm_backward_is_the_forward_derivative():
    """In float64: d/dx sum(w * bn(x)), dgamma and dbeta from the backward
    kernel against central differences of the forward kernel."""
    x, gamma, beta, _, _ = bn_inputs(np.float64, 11, 4, 45)
    x[:, 1] += np.linspace(-1, 1, 11)  # no constant column (eps dominates it)
    w = np.random.default_rng(46).standard_normal(x.shape)
    eps = 1e-3

    def f(values):
        out = _kernels.batch_norm_forward(values["x"].copy(), values["gamma"], values["beta"],
                                         eps)[0]
        return float(np.sum(w * out))

    _, xhat, inv_std = _kernels.batch_norm_forward(x.copy(), gamma, beta, eps)
    dx, dgamma, dbeta = _kernels.batch_norm_backward(w.copy(), xhat, inv_std, gamma)
    base = {"x": x, "gamma": gamma, "beta": beta}
    h = 1e-6
    for name, analytic in (("x", dx), ("gamma", dgamma), ("beta", dbeta)):
        fd = np.empty_like(base[name])
        for i in np.ndindex(fd.shape):
            plus, minus = base[name].copy(), base[name].copy()
            plus[i] += h
            minus[i] -= h
            fd[i] = (f({**base, name: plus}) - f({**base, name: minus})) / (2 * h)
        err = np.max(np.abs(analytic - fd)) / np.max(np.abs(fd))
        assert err < 1e-7, f"d/d{name}: max rel diff to finite differences {err:.3e}"


# ---- dropout ----

SEEDS = [0, 1, 12345, 2**32 - 1, 2**32, 2**32 + 1, 2**63 + 12345, 2**64 - 1]
SAMPLES = [0, 1, 2, 7, 1000, 2**31 - 1, 2**32, 2**32 + 7, 2**40 + 3, 2**63 - 1]
RATES = [0.0, 0.1, 0.25, 0.5, 0.9, 0.999, 3 / 2**24, 1e-9]


def test_dropout_keep_matches_numpy_hash():
    """_kernels.dropout_keep against the mask reimplemented in NumPy from the
    hash's definition (csrc/engine.h): seeds and sample indices beyond 32
    bits (the hash takes both halves), every unit of a few layers."""
    units = np.arange(70)
    for seed in SEEDS:
        for rate in RATES:
            expected = dropout_mask(seed, SAMPLES, units, rate)
            got = np.array([[_kernels.dropout_keep(seed, s, u, rate) for u in units]
                            for s in SAMPLES])
            assert got.dtype == bool
            mismatch = np.argwhere(got != expected)
            assert mismatch.size == 0, (
                f"seed {seed}, rate {rate}: {len(mismatch)} mismatches, first at "
                f"(sample, unit) = {[SAMPLES[mismatch[0][0]], mismatch[0][1]]}")


def test_dropout_threshold_boundaries():
    """A unit is dropped exactly when the top 24 bits of its hash are below
    round(rate * 2^24): rates at and around a unit's own hash value flip it."""
    seed, sample, unit = 77, 5, 3
    keys = dropout_mask(seed, [sample], [unit], 0.0)  # always kept at rate 0
    assert keys.all()
    # the unit's hash value (top 24 bits) by bisection on the engine's keep test
    lo, hi = 0, 2**24
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _kernels.dropout_keep(seed, sample, unit, mid / 2**24):
            lo = mid
        else:
            hi = mid
    # kept at threshold lo, dropped at lo + 1: the hash's top bits are lo
    assert _kernels.dropout_keep(seed, sample, unit, lo / 2**24)
    assert not _kernels.dropout_keep(seed, sample, unit, (lo + 1) / 2**24)
    assert dropout_threshold((lo + 1) / 2**24) == lo + 1
    assert not dropout_mask(seed, [sample], [unit], (lo + 1) / 2**24)[0, 0]
    assert dropout_mask(seed, [sample], [unit], lo / 2**24)[0, 0]
    # rates rounding to the same threshold decide alike
    assert not _kernels.dropout_keep(seed, sample, unit, (lo + 0.5) / 2**24)
    assert _kernels.dropout_keep(seed, sample, unit, (lo + 0.49) / 2**24)


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_dropout_kernel_matches_numpy_mask(dtype, rate):
    """The kernel is x * keep / (1 - rate) with the NumPy mask, bit for bit
    (NaN where kept stays NaN, dropped entries are +0)."""
    rng = np.random.default_rng(50)
    x = rng.standard_normal((23, 11)).astype(dtype)
    x[3, 4] = np.nan
    x[5, :] = np.inf
    rows = rng.choice(2**40, 23).astype(np.int64)
    for seed, offset in ((3, 0), (2**64 - 1, 17), (2**33, 5)):
        out = _kernels.dropout(x, rows, offset, seed, rate)
        assert out is not x and out.dtype == dtype
        keep = dropout_mask(seed, rows, offset + np.arange(11), rate)
        expected = apply_dropout(x, keep, rate)
        np.testing.assert_array_equal(out.view(np.uint8), expected.view(np.uint8))
        if rate == 0:
            np.testing.assert_array_equal(out.view(np.uint8), x.view(np.uint8))


def test_dropout_mask_statistics():
    """Over 2000 samples x 64 units per rate: the keep rate is 1 - rate
    within 5 standard errors, overall, per unit and per sample's count (a
    binomial's variance: units of a sample independent), and adjacent units
    and samples are kept together as often as independence says."""
    n_rows, n_units = 2000, 64
    rows = np.arange(n_rows, dtype=np.int64)
    ones = np.ones((n_rows, n_units))
    for rate in (0.05, 0.2, 0.5, 0.8, 0.95):
        keep = _kernels.dropout(ones, rows, 0, 2024, rate) != 0
        p = 1 - rate
        n = keep.size
        assert abs(keep.mean() - p) < 5 * np.sqrt(p * rate / n), (rate, keep.mean())
        per_unit = keep.mean(axis=0)
        assert np.all(np.abs(per_unit - p) < 5 * np.sqrt(p * rate / n_rows)), (rate, per_unit)
        counts = keep.sum(axis=1)
        ratio = counts.var(ddof=1) / (n_units * p * rate)
        assert 0.85 < ratio < 1.15, f"rate {rate}: per-sample count variance ratio {ratio:.3f}"
        for both in (keep[:, 1:] & keep[:, :-1], keep[1:] & keep[:-1]):
            assert abs(both.mean() - p * p) < 5 * np.sqrt(p * p * (1 - p * p) / both.size), (
                rate, both.mean(), p * p)


def test_dropout_masks_differ():
    """Other seeds (also in the high 32 bits only), samples (also in the high
    bits only) and units give masks that agree no more than chance does."""
    rate, p = 0.5, 0.5
    units = np.arange(256)
    base_rows = np.arange(400)
    base = dropout_mask(7, base_rows, units, rate)
    engine_base = _kernels.dropout(np.ones((400, 256)), base_rows, 0, 7, rate) != 0
    np.testing.assert_array_equal(engine_base, base)
    others = {
        "seed + 1": dropout_mask(8, base_rows, units, rate),
        "seed + 2^32": dropout_mask(7 + 2**32, base_rows, units, rate),
        "sample + 400": dropout_mask(7, base_rows + 400, units, rate),
        "sample + 2^32": dropout_mask(7, base_rows + 2**32, units, rate),
        "unit + 256": dropout_mask(7, base_rows, units + 256, rate),
    }
    agree_expected = p * p + (1 - p) * (1 - p)
    se = np.sqrt(agree_expected * (1 - agree_expected) / base.size)
    for what, mask in others.items():
        agree = (mask == base).mean()
        assert abs(agree - agree_expected) < 5 * se, f"{what}: masks agree on {agree:.4f}"


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_dropout_kernel_independent_of_batching(dtype):
    """A row's mask depends on its sample index only: permuting the rows
    permutes the output, batches of any split give the whole, and a layer's
    columns starting at unit_offset + k are the units offset + k."""
    rng = np.random.default_rng(51)
    x = rng.standard_normal((40, 9)).astype(dtype)
    rows = rng.permutation(1000)[:40].astype(np.int64)
    whole = _kernels.dropout(x, rows, 4, 99, 0.3)
    perm = rng.permutation(40)
    np.testing.assert_array_equal(_kernels.dropout(x[perm], rows[perm], 4, 99, 0.3),
                                  whole[perm])
    parts = [_kernels.dropout(x[a:b], rows[a:b], 4, 99, 0.3)
             for a, b in ((0, 1), (1, 14), (14, 40))]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    right = _kernels.dropout(np.ascontiguousarray(x[:, 3:]), rows, 7, 99, 0.3)
    np.testing.assert_array_equal(right, whole[:, 3:])
    assert (whole == 0).any() and (whole != 0).any()
