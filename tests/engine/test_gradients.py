"""Central finite-difference checks of the engine's analytic gradient
(`_engine.loss_grad`) with respect to every parameter.

Nets are 5-4-3-O (two hidden layers, so hidden-to-hidden backprop is
covered), for every hidden activation (scikit-learn's and the engine's
elu, gelu, swish) x every loss, with and without sample weights and L2
penalty; then the engine's regularizers: L1 (weights kept
away from its kink at 0), dropout (a fixed seed: a fixed mask, so the loss
is smooth), training-mode batch normalization (batch statistics over all
samples; its scales and shifts are parameters too) and their combinations,
for dense and CSR input.  There the gradient is also compared with the
NumPy reference's, which pins down the documented masks and statistics.
float64 is checked tightly against finite differences of the float64
engine loss; float32's analytic gradient is compared with the float64
finite-difference gradient at the same (float32) parameters cast to float64.
The engine's loss value itself is also checked against the NumPy reference
of the documented formula.
"""
import numpy as np
import pytest
import scipy.sparse as sp

from conftest import max_rel_diff
from _engine_ref import (ALL_HIDDEN_ACTIVATIONS, DTYPES, GEMM_IDS, GEMM_PATHS, LOSSES, _engine,
                         activation, init_batch_norm, loss_and_grad, loss_value, make_problem,
                         train_forward, unpack)

N_SAMPLES = 12
N_OUTPUTS = 3
SIZES = (5, 4, 3, N_OUTPUTS)
H = 1e-5            # finite-difference step (float64)
F64_RTOL = 1e-6     # |analytic - fd|_inf / |fd|_inf, float64 (observed <= 3e-10)
F32_RTOL = 1e-4     # same, float32 analytic vs float64 fd (observed <= 3e-7)
LOSS_RTOL = {np.float32: 1e-5, np.float64: 1e-12}
MIN_HIDDEN_Z = 1e-2  # |pre-activation| margin from the relu kink


def hidden_preactivations(net, params, X):
    """Pre-activations of the hidden layers, in float64."""
    coefs, intercepts = unpack(net, np.asarray(params, np.float64))
    h = X.astype(np.float64)
    zs = []
    for l in range(len(coefs) - 1):
        z = np.asarray(h @ coefs[l]) + intercepts[l]
        zs.append(z)
        h = activation(net.hidden_activations[l], z, net.leaky_relu_slope)
    return zs


def setup_case(act, loss, dtype, weighted, alpha, seed=0, sparse=False, gemm="blas"):
    """A deterministic problem whose hidden pre-activations stay away from 0
    (relu kinks) and whose probabilities stay away from 0/1 (clipping).
    gemm picks the engine's matrix-product path (GEMM_PATHS)."""
    net = _engine.Network(SIZES, [act, act], loss, alpha=alpha, leaky_relu_slope=0.1,
                          **GEMM_PATHS[gemm])
    for attempt in range(200):
        rng = np.random.default_rng(1000 * seed + attempt)
        X, y = make_problem(loss, N_SAMPLES, SIZES[0], N_OUTPUTS, dtype, rng)
        if sparse:
            X = X * (rng.random(X.shape) < 0.5)
            X = sp.csr_matrix(X.astype(dtype))
        params = (0.6 * rng.standard_normal(net.n_params)).astype(dtype)
        sw = (rng.uniform(0.2, 3.0, N_SAMPLES).astype(dtype) if weighted else None)
        zs = hidden_preactivations(net, params, X)
        if min(np.min(np.abs(z)) for z in zs) > MIN_HIDDEN_Z:
            return net, params, X, y, sw
    raise AssertionError("could not draw a problem away from the relu kinks")


def fd_gradient(net, params64, X64, y64, sw64, h=H, dropout_seed=0):
    """Central differences of the float64 engine loss w.r.t. every parameter
    (with dropout: of the loss under dropout_seed's fixed mask)."""
    fd = np.empty_like(params64)
    p = params64.copy()
    for i in range(p.size):
        orig = p[i]
        p[i] = orig + h
        lp, _ = _engine.loss_grad(net, p, X64, y64, sw64, dropout_seed=dropout_seed)
        p[i] = orig - h
        lm, _ = _engine.loss_grad(net, p, X64, y64, sw64, dropout_seed=dropout_seed)
        p[i] = orig
        fd[i] = (lp - lm) / (2 * h)
    return fd


def as64(a):
    if a is None:
        return None
    if sp.issparse(a):
        return a.astype(np.float64)
    return np.ascontiguousarray(a, dtype=np.float64)


def check_gradient(net, params, X, y, sw, dropout_seed=0):
    dtype = params.dtype.type
    loss, grad = _engine.loss_grad(net, params, X, y, sw, dropout_seed=dropout_seed)
    assert grad.dtype == params.dtype and grad.shape == params.shape
    assert np.all(np.isfinite(grad)) and np.isfinite(loss)
    # the reported loss is the documented formula
    ref = loss_value(net, params, as64(X).toarray() if sp.issparse(X) else X, y, sw,
                     dropout_seed=dropout_seed)
    loss_err = abs(loss - ref) / max(abs(ref), 1e-300)
    assert loss_err < LOSS_RTOL[dtype], (
        f"loss {loss!r} vs reference {ref!r}: relative difference {loss_err:.3e}")
    fd = fd_gradient(net, as64(params), as64(X), as64(y), as64(sw), dropout_seed=dropout_seed)
    scale = np.max(np.abs(fd))
    assert scale > 0
    diff = np.abs(grad.astype(np.float64) - fd)
    err = np.max(diff) / scale
    tol = F64_RTOL if dtype is np.float64 else F32_RTOL
    worst = int(np.argmax(diff))
    assert err < tol, (
        f"max |analytic - fd| / max|fd| = {err:.3e} (tol {tol:g}); worst param {worst}: "
        f"analytic {grad[worst]!r}, fd {fd[worst]!r}; max abs diff {np.max(diff):.3e}")
    # every parameter gets a gradient (biases included): none silently zero
    # where finite differences see a slope
    missing = (np.abs(fd) > 1e-3 * scale) & (grad == 0)
    assert not missing.any(), f"zero analytic gradient at params {np.flatnonzero(missing)}"
    return err


VARIANTS = [(False, 0.0), (True, 0.0), (False, 0.7), (True, 0.7)]
VARIANT_IDS = ["plain", "weighted", "alpha", "weighted-alpha"]


@pytest.mark.parametrize("weighted,alpha", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ALL_HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("gemm", GEMM_IDS)
def test_gradient_matches_finite_differences(gemm, dtype, act, loss, weighted, alpha):
    net, params, X, y, sw = setup_case(act, loss, dtype, weighted, alpha, gemm=gemm)
    check_gradient(net, params, X, y, sw)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("gemm", GEMM_IDS)
def test_gradient_mixed_activations(gemm, dtype, loss):
    """Different activations in the two hidden layers, leaky slope != default."""
    for acts in (["logistic", "leaky_relu"], ["relu", "tanh"]):
        net = _engine.Network(SIZES, acts, loss, alpha=0.3, leaky_relu_slope=0.25,
                              **GEMM_PATHS[gemm])
        _, params, X, y, sw = setup_case(acts[0], loss, dtype, True, 0.3, seed=7)
        check_gradient(net, params, X, y, sw)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("gemm", GEMM_IDS)
def test_gradient_single_layer(gemm, dtype, loss):
    """No hidden layer: the output layer reads the input directly."""
    net = _engine.Network((5, 3), [], loss, alpha=0.2, **GEMM_PATHS[gemm])
    rng = np.random.default_rng(3)
    X, y = make_problem(loss, N_SAMPLES, 5, 3, dtype, rng)
    params = (0.5 * rng.standard_normal(net.n_params)).astype(dtype)
    sw = rng.uniform(0.5, 2, N_SAMPLES).astype(dtype)
    check_gradient(net, params, X, y, sw)


@pytest.mark.parametrize("weighted,alpha", [(False, 0.0), (True, 0.5)],
                         ids=["plain", "weighted-alpha"])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_gradient_csr_input(dtype, act, loss, weighted, alpha):
    net, params, X, y, sw = setup_case(act, loss, dtype, weighted, alpha, seed=5,
                                       sparse=True)
    assert sp.issparse(X) and X.format == "csr" and X.nnz < X.shape[0] * X.shape[1]
    check_gradient(net, params, X, y, sw)
    # and the CSR gradient is the dense one
    loss_s, g_s = _engine.loss_grad(net, params, X, y, sw)
    loss_d, g_d = _engine.loss_grad(net, params, X.toarray(), y, sw)
    tol = 1e-12 if dtype is np.float64 else 1e-5
    err = np.max(np.abs(g_s - g_d)) / np.max(np.abs(g_d))
    assert err < tol, f"CSR vs dense gradient: max rel diff {err:.3e}"
    assert abs(loss_s - loss_d) <= tol * abs(loss_d), f"loss {loss_s!r} vs {loss_d!r}"


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_data_loss_scale_scales_loss_not_gradient(dtype):
    rng = np.random.default_rng(11)
    kw = dict(alpha=0.4)
    net1 = _engine.Network(SIZES, ["tanh", "tanh"], "squared_error", **kw)
    net3 = _engine.Network(SIZES, ["tanh", "tanh"], "squared_error",
                           data_loss_scale=1 / 3, **kw)
    X, y = make_problem("squared_error", N_SAMPLES, 5, 3, dtype, rng)
    params = (0.5 * rng.standard_normal(net1.n_params)).astype(dtype)
    sw = rng.uniform(0.5, 2, N_SAMPLES).astype(dtype)
    l1, g1 = _engine.loss_grad(net1, params, X, y, sw)
    l3, g3 = _engine.loss_grad(net3, params, X, y, sw)
    coefs, _ = unpack(net1, params.astype(np.float64))
    l2 = 0.5 * 0.4 * sum(np.sum(c ** 2) for c in coefs) / sw.astype(np.float64).sum()
    expected = (l1 - l2) / 3 + l2
    rtol = 1e-12 if dtype is np.float64 else 1e-6
    assert abs(l3 - expected) <= rtol * abs(expected), f"{l3!r} vs {expected!r}"
    np.testing.assert_array_equal(g1, g3)


# ---- the engine's regularizers: L1, dropout, batch norm ----

MIN_ABS_WEIGHT = 0.05  # |w| margin from L1's kink (>> H)
# the NumPy reference's gradient (float64 backprop) vs the engine's
REF_RTOL = {np.float32: 1e-5, np.float64: 1e-12}  # observed 4e-7, 1e-15


def setup_extras(loss, dtype, *, acts=("tanh", "gelu"), alpha=0.0, l1=0.0, dropout=None,
                 batch_norm=None, weighted=True, sparse=False, seed=0, gemm="blas",
                 dropout_seed=0):
    """Like setup_case for a net with the engine's regularizers: weights away
    from 0 when l1 > 0, batch-norm scales and shifts at a generic point, and
    every activation's input (after batch norm) away from the kinks of
    relu / leaky_relu (and elu's second derivative)."""
    net = _engine.Network(SIZES, list(acts), loss, alpha=alpha, l1=l1, dropout=dropout,
                          batch_norm=batch_norm, leaky_relu_slope=0.1, **GEMM_PATHS[gemm])
    for attempt in range(200):
        rng = np.random.default_rng(1000 * seed + attempt)
        X, y = make_problem(loss, N_SAMPLES, SIZES[0], N_OUTPUTS, dtype, rng)
        if sparse:
            X = X * (rng.random(X.shape) < 0.5)
            X = sp.csr_matrix(X.astype(dtype))
        params = 0.6 * rng.standard_normal(net.n_params)
        if l1:
            w = params[:net.n_weights]
            w[:] = np.sign(w) * (MIN_ABS_WEIGHT + np.abs(w))
        params = init_batch_norm(net, params, rng).astype(dtype)
        sw = rng.uniform(0.2, 3.0, N_SAMPLES).astype(dtype) if weighted else None
        X64 = as64(X).toarray() if sparse else as64(X)
        hidden, _, _ = train_forward(net, as64(params), X64, dropout_seed=dropout_seed)
        if min(np.min(np.abs(c["u"])) for c in hidden) > MIN_HIDDEN_Z:
            return net, params, X, y, sw
    raise AssertionError("could not draw a problem away from the kinks")


def check_against_reference(net, params, X, y, sw, dropout_seed):
    """The engine's loss and gradient equal the NumPy reference's (float64
    backprop from the same values): the documented masks, statistics and
    penalties, not merely a self-consistent loss and gradient."""
    dtype = params.dtype.type
    loss, grad = _engine.loss_grad(net, params, X, y, sw, dropout_seed=dropout_seed)
    X64 = as64(X).toarray() if sp.issparse(X) else as64(X)
    ref_loss, ref_grad = loss_and_grad(net, as64(params), X64, as64(y), as64(sw),
                                       dropout_seed=dropout_seed)
    err = max_rel_diff(grad, ref_grad)
    assert err < REF_RTOL[dtype], f"gradient vs NumPy reference: max rel diff {err:.3e}"
    assert abs(loss - ref_loss) <= LOSS_RTOL[dtype] * abs(ref_loss), (loss, ref_loss)
    return err


def check_all(net, params, X, y, sw, dropout_seed=0):
    check_gradient(net, params, X, y, sw, dropout_seed=dropout_seed)
    check_against_reference(net, params, X, y, sw, dropout_seed)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("gemm", GEMM_IDS)
def test_gradient_l1(gemm, dtype, loss):
    net, params, X, y, sw = setup_extras(loss, dtype, alpha=0.2, l1=0.3, gemm=gemm)
    check_all(net, params, X, y, sw)
    # exactly the documented term: l1 * sign(W) / sum(sw) on the weights,
    # nothing on the biases; l1 * sum |W| / sum(sw) in the loss
    plain = _engine.Network(SIZES, ["tanh", "gelu"], loss, alpha=0.2, leaky_relu_slope=0.1,
                            **GEMM_PATHS[gemm])
    l_with, g_with = _engine.loss_grad(net, params, X, y, sw)
    l_without, g_without = _engine.loss_grad(plain, params, X, y, sw)
    sw_sum = float(np.sum(sw, dtype=np.float64))
    W = params[:net.n_weights].astype(np.float64)
    tol = {np.float32: 1e-5, np.float64: 1e-13}[dtype]
    diff = g_with.astype(np.float64) - g_without
    np.testing.assert_allclose(diff[:net.n_weights], 0.3 * np.sign(W) / sw_sum, rtol=0,
                               atol=tol * np.abs(g_with).max())
    np.testing.assert_array_equal(g_with[net.n_weights:], g_without[net.n_weights:])
    expected = 0.3 * np.abs(W).sum() / sw_sum
    assert abs((l_with - l_without) - expected) <= tol * l_with, (l_with - l_without, expected)


DROPOUT_RATES = [(0.5, 0.5), (0.2, 0.7), (0.0, 0.4), (0.3, 0.0)]
DROPOUT_IDS = ["both-0.5", "0.2-0.7", "second-only", "first-only"]


@pytest.mark.parametrize("rates", DROPOUT_RATES, ids=DROPOUT_IDS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("gemm", GEMM_IDS)
def test_gradient_dropout(gemm, dtype, loss, rates):
    seed = 2**40 + 17
    net, params, X, y, sw = setup_extras(loss, dtype, acts=("tanh", "swish"), alpha=0.1,
                                         dropout=list(rates), gemm=gemm, seed=1,
                                         dropout_seed=seed)
    check_all(net, params, X, y, sw, dropout_seed=seed)
    # dropout does act (the test is not that of the plain net), and another
    # seed is another mask
    plain = _engine.Network(SIZES, ["tanh", "swish"], loss, alpha=0.1, leaky_relu_slope=0.1)
    _, g = _engine.loss_grad(net, params, X, y, sw, dropout_seed=seed)
    _, g_plain = _engine.loss_grad(plain, params, X, y, sw)
    _, g_other = _engine.loss_grad(net, params, X, y, sw, dropout_seed=seed + 1)
    assert max_rel_diff(g, g_plain) > 1e-3 and max_rel_diff(g, g_other) > 1e-3


BN_FLAGS = [(True, False), (False, True), (True, True)]
BN_IDS = ["first", "second", "both"]


@pytest.mark.parametrize("flags", BN_FLAGS, ids=BN_IDS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("gemm", GEMM_IDS)
def test_gradient_batch_norm(gemm, dtype, loss, flags):
    """Batch statistics over all samples; the gamma / beta entries of the
    parameter vector get their gradients (check_gradient: none is zero
    where finite differences see a slope)."""
    net, params, X, y, sw = setup_extras(loss, dtype, acts=("gelu", "elu"), alpha=0.1,
                                         batch_norm=list(flags), gemm=gemm, seed=2)
    assert net.batch_norm_units == sum(w for w, f in zip(SIZES[1:3], flags) if f)
    assert net.n_params == 51 + 2 * net.batch_norm_units
    check_all(net, params, X, y, sw)


ALL_ACTS = [("swish", "relu"), ("elu", "logistic"), ("gelu", "leaky_relu"), ("relu", "tanh")]


@pytest.mark.parametrize("acts", ALL_ACTS, ids=["-".join(a) for a in ALL_ACTS])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_gradient_all_regularizers(dtype, loss, acts):
    """Batch norm on both hidden layers, dropout on both, L1 and L2, sample
    weights: every feature at once (relu kinks kept away from the
    normalized pre-activations)."""
    seed = 99
    net, params, X, y, sw = setup_extras(loss, dtype, acts=acts, alpha=0.2, l1=0.05,
                                         dropout=[0.3, 0.6], batch_norm=[True, True],
                                         seed=3, dropout_seed=seed)
    check_all(net, params, X, y, sw, dropout_seed=seed)


@pytest.mark.parametrize("flags", [(True, False), (False, True)], ids=["bn-first", "bn-second"])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_gradient_csr_with_batch_norm_and_dropout(dtype, loss, flags):
    """CSR input into a batch-normalized (or dropped-out) first layer."""
    seed = 5
    net, params, X, y, sw = setup_extras(loss, dtype, acts=("tanh", "swish"), alpha=0.1,
                                         dropout=[0.4, 0.25], batch_norm=list(flags),
                                         sparse=True, seed=4, dropout_seed=seed)
    assert sp.issparse(X) and X.nnz < X.shape[0] * X.shape[1]
    check_all(net, params, X, y, sw, dropout_seed=seed)
    loss_s, g_s = _engine.loss_grad(net, params, X, y, sw, dropout_seed=seed)
    loss_d, g_d = _engine.loss_grad(net, params, X.toarray(), y, sw, dropout_seed=seed)
    tol = 1e-12 if dtype is np.float64 else 1e-5
    assert max_rel_diff(g_s, g_d) < tol, f"CSR vs dense gradient: max rel diff {max_rel_diff(g_s, g_d):.3e}"
    assert abs(loss_s - loss_d) <= tol * abs(loss_d), f"loss {loss_s!r} vs {loss_d!r}"
