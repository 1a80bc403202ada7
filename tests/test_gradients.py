"""Central finite-difference checks of the engine's analytic gradient
(`_engine.loss_grad`) with respect to every parameter.

Nets are 5-4-3-O (two hidden layers, so hidden-to-hidden backprop is
covered), for every hidden activation x every loss, with and without sample
weights and L2 penalty.  float64 is checked tightly against finite
differences of the float64 engine loss; float32's analytic gradient is
compared with the float64 finite-difference gradient at the same (float32)
parameters cast to float64.  The engine's loss value itself is also checked
against the NumPy reference of the documented formula.
"""
import numpy as np
import pytest
import scipy.sparse as sp

from _engine_ref import (DTYPES, GEMM_IDS, GEMM_PATHS, HIDDEN_ACTIVATIONS, LOSSES, _engine,
                         activation, loss_value, make_problem, unpack)

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


def fd_gradient(net, params64, X64, y64, sw64, h=H):
    """Central differences of the float64 engine loss w.r.t. every parameter."""
    fd = np.empty_like(params64)
    p = params64.copy()
    for i in range(p.size):
        orig = p[i]
        p[i] = orig + h
        lp, _ = _engine.loss_grad(net, p, X64, y64, sw64)
        p[i] = orig - h
        lm, _ = _engine.loss_grad(net, p, X64, y64, sw64)
        p[i] = orig
        fd[i] = (lp - lm) / (2 * h)
    return fd


def as64(a):
    if a is None:
        return None
    if sp.issparse(a):
        return a.astype(np.float64)
    return np.ascontiguousarray(a, dtype=np.float64)


def check_gradient(net, params, X, y, sw):
    dtype = params.dtype.type
    loss, grad = _engine.loss_grad(net, params, X, y, sw)
    assert grad.dtype == params.dtype and grad.shape == params.shape
    assert np.all(np.isfinite(grad)) and np.isfinite(loss)
    # the reported loss is the documented formula
    ref = loss_value(net, params, as64(X).toarray() if sp.issparse(X) else X, y, sw)
    loss_err = abs(loss - ref) / max(abs(ref), 1e-300)
    assert loss_err < LOSS_RTOL[dtype], (
        f"loss {loss!r} vs reference {ref!r}: relative difference {loss_err:.3e}")
    fd = fd_gradient(net, as64(params), as64(X), as64(y), as64(sw))
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
@pytest.mark.parametrize("act", HIDDEN_ACTIVATIONS)
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
