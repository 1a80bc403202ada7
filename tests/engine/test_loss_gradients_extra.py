"""The robust regression losses of the engine ('absolute_error', 'huber',
'quantile'): the loss kernel against the NumPy reference's formulas
(`_engine_ref.per_sample_loss` / `output_gradient`), and central finite
differences of the whole network's loss, as in test_gradients.py.

The losses have kinks (where a == y, and |a - y| == delta for Huber's
second derivative); the problems are drawn with every residual at least
MIN_RESIDUAL away from them, so central differences see a smooth function.
"""
import numpy as np
import pytest

from _engine_ref import (DTYPES, GEMM_IDS, GEMM_PATHS, ROBUST_LOSSES, _engine, _kernels,
                         make_problem, output_gradient, per_sample_loss, train_forward)
from test_gradients import MIN_HIDDEN_Z, N_OUTPUTS, N_SAMPLES, SIZES, check_gradient, \
    hidden_preactivations

MIN_RESIDUAL = 1e-2
# the loss parameters checked: Huber's delta, the quantile
LOSS_PARAMS = {"absolute_error": [None], "huber": [0.3, 1.0, 5.0], "quantile": [0.1, 0.5, 0.9]}
CASES = [(loss, p) for loss in ROBUST_LOSSES for p in LOSS_PARAMS[loss]]
CASE_IDS = [f"{loss}-{p}" for loss, p in CASES]


def robust_case(loss, loss_param, dtype, weighted, alpha, gemm="blas"):
    """A problem away from the relu kinks and from the loss's own kinks."""
    net = _engine.Network(SIZES, ["tanh", "relu"], loss, alpha=alpha, loss_param=loss_param,
                          **GEMM_PATHS[gemm])
    for attempt in range(500):
        rng = np.random.default_rng(attempt)
        X, y = make_problem(loss, N_SAMPLES, SIZES[0], N_OUTPUTS, dtype, rng)
        params = (0.6 * rng.standard_normal(net.n_params)).astype(dtype)
        sw = rng.uniform(0.2, 3.0, N_SAMPLES).astype(dtype) if weighted else None
        if min(np.min(np.abs(z)) for z in hidden_preactivations(net, params, X)) <= MIN_HIDDEN_Z:
            continue
        _, _, a = train_forward(net, params.astype(np.float64), X.astype(np.float64))
        r = np.abs(a - y)
        kinks = [r] + ([np.abs(r - net.loss_param)] if loss == "huber" else [])
        if min(np.min(k) for k in kinks) > MIN_RESIDUAL:
            return net, params, X, y, sw
    raise AssertionError("could not draw a problem away from the kinks")


@pytest.mark.parametrize("weighted,alpha", [(False, 0.0), (True, 0.7)], ids=["plain", "weighted-alpha"])
@pytest.mark.parametrize("loss,loss_param", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("gemm", GEMM_IDS)
def test_robust_loss_gradient_matches_finite_differences(gemm, dtype, loss, loss_param,
                                                         weighted, alpha):
    net, params, X, y, sw = robust_case(loss, loss_param, dtype, weighted, alpha, gemm)
    check_gradient(net, params, X, y, sw)


@pytest.mark.parametrize("loss,loss_param", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_robust_loss_kernel_against_reference(dtype, loss, loss_param):
    rng = np.random.default_rng(3)
    z = rng.standard_normal((40, 3)).astype(dtype) * 3
    y = rng.standard_normal((40, 3)).astype(dtype) * 3
    y[:5] = z[:5]  # exactly at the kink: subgradient 0
    sw = rng.uniform(0.5, 2.0, 40).astype(dtype)
    total, delta, a = _kernels.loss_delta(z, y, loss, sw, loss_param=loss_param)
    param = _engine.LOSS_PARAM_DEFAULTS.get(loss) if loss_param is None else loss_param
    np.testing.assert_array_equal(a, z)  # identity output
    ref = float(np.dot(sw.astype(np.float64), per_sample_loss(loss, z, a, y, dtype, param)))
    assert total == pytest.approx(ref, rel=1e-5 if dtype == np.float32 else 1e-12)
    ref_delta = sw[:, None] * output_gradient(loss, a, y, param)
    np.testing.assert_allclose(delta, ref_delta, rtol=1e-6)
    assert np.all(delta[:5] == 0)


def test_quantile_half_is_half_the_absolute_error():
    rng = np.random.default_rng(0)
    z, y = rng.standard_normal((2, 30, 2))
    abs_total, abs_delta, _ = _kernels.loss_delta(z, y, "absolute_error")
    q_total, q_delta, _ = _kernels.loss_delta(z, y, "quantile", loss_param=0.5)
    assert q_total == pytest.approx(0.5 * abs_total, rel=1e-14)
    np.testing.assert_array_equal(q_delta, 0.5 * abs_delta)


def test_huber_is_squared_error_for_small_residuals():
    rng = np.random.default_rng(0)
    z = rng.uniform(-1, 1, (30, 2))
    y = z + rng.uniform(-0.5, 0.5, z.shape)
    h_total, h_delta, _ = _kernels.loss_delta(z, y, "huber", loss_param=1.0)
    s_total, s_delta, _ = _kernels.loss_delta(z, y, "squared_error")
    assert h_total == pytest.approx(s_total, rel=1e-14)
    np.testing.assert_array_equal(h_delta, s_delta)


@pytest.mark.parametrize("loss,loss_param", [("huber", 0.0), ("huber", -1.0), ("huber", np.inf),
                                             ("quantile", 0.0), ("quantile", 1.0),
                                             ("quantile", 1.5)])
def test_loss_param_out_of_range_is_rejected(loss, loss_param):
    with pytest.raises(ValueError):
        _engine.Network((3, 2, 1), ["relu"], loss, loss_param=loss_param)


def test_network_pickles_with_its_loss_param():
    import pickle
    net = _engine.Network((3, 2, 1), ["relu"], "quantile", loss_param=0.9)
    again = pickle.loads(pickle.dumps(net))
    assert again.loss == "quantile" and again.loss_param == 0.9
    assert again.output_activation == "identity"
