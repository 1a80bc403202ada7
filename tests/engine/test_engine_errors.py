"""Robustness of the engine's bindings: bad arguments raise ValueError before
the engine touches memory, impossible allocations raise MemoryError (never
crash), Network/Optimizer pickle, Ctrl-C interrupts long calls promptly, and
the GIL is released while the engine runs.

Cases that could crash the interpreter if the engine were wrong run in a
subprocess, whose exit status is checked."""
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp

from _engine_ref import _engine, _kernels
from conftest import run_python

F, H, O, N = 3, 4, 2, 6


@pytest.fixture
def case():
    """A valid float64 call set-up; tests break one argument at a time."""
    rng = np.random.default_rng(0)
    net = _engine.Network([F, H, O], ["relu"], "squared_error")
    return dict(
        net=net,
        params=rng.standard_normal(net.n_params),
        opt=_engine.Optimizer("adam", net.n_params, np.float64),
        X=rng.standard_normal((N, F)),
        y=rng.standard_normal((N, O)),
        sw=np.ones(N),
        order=np.arange(N, dtype=np.int64),
    )


def csr_case(c):
    return sp.csr_matrix(np.where(np.abs(c["X"]) > 0.5, c["X"], 0))


def malformed_csr(c, how):
    X = csr_case(c)
    assert X.nnz >= 3
    if how == "index-too-large":
        X.indices[1] = F
    elif how == "index-negative":
        X.indices[0] = -1
    elif how == "indptr-decreasing":
        X.indptr[2], X.indptr[3] = X.indptr[3], X.indptr[2] - 1
        X.indptr[2] = X.indptr[1] + 3
        X.indptr[3] = X.indptr[1]
    elif how == "indptr-not-from-0":
        X.indptr[0] = 1
    elif how == "indptr-past-data":
        X.indptr[-1] = X.nnz + 5
    elif how == "indptr-short":
        X.indptr = X.indptr[:-1]
    elif how == "csc":
        X = X.tocsc()
    elif how == "coo":
        X = X.tocoo()
    elif how == "dtype":
        X = X.astype(np.float32)
    elif how == "n-features":
        X = sp.csr_matrix((X.data, X.indices, X.indptr), shape=(N, F + 1))
    return X


def train(c, **kw):
    a = dict(c)
    a.update(kw)
    return _engine.train_epoch(a["net"], a["params"], a["opt"], a["X"], a["y"], a["sw"],
                               a["order"], a.get("batch_size", 2))


def grad(c, **kw):
    a = dict(c)
    a.update(kw)
    return _engine.loss_grad(a["net"], a["params"], a["X"], a["y"], a["sw"],
                             grad=a.get("grad"), chunk_rows=a.get("chunk_rows", 4096))


def pred(c, **kw):
    a = dict(c)
    a.update(kw)
    return _engine.predict(a["net"], a["params"], a["X"], out=a.get("out"),
                           chunk_rows=a.get("chunk_rows", 4096))


def f32(a):
    return a.astype(np.float32)


def noncontig_rows(a):
    """The same values, not C-contiguous."""
    big = np.repeat(a, 2, axis=0)
    return big[::2]


# (name, how to break the arguments): each applies to train, loss_grad, predict
# where the argument exists.
COMMON_BAD = {
    "params-f32-X-f64": lambda c: dict(params=f32(c["params"])),
    "X-f32": lambda c: dict(X=f32(c["X"])),
    "X-int": lambda c: dict(X=c["X"].astype(np.int64)),
    "X-1d": lambda c: dict(X=c["X"][0].copy()),
    "X-wrong-n-features": lambda c: dict(X=np.zeros((N, F + 1))),
    "X-too-few-features": lambda c: dict(X=np.zeros((N, F - 1))),
    "X-fortran": lambda c: dict(X=np.asfortranarray(c["X"])),
    "X-noncontiguous": lambda c: dict(X=np.repeat(c["X"], 2, axis=1)[:, ::2]),
    "params-wrong-length": lambda c: dict(params=np.zeros(c["net"].n_params + 1)),
    "params-2d": lambda c: dict(params=c["params"][None, :].copy()),
    "params-noncontiguous": lambda c: dict(params=np.repeat(c["params"], 2)[::2]),
    "params-int": lambda c: dict(params=np.zeros(c["net"].n_params, np.int64)),
    "params-list": lambda c: dict(params=list(c["params"])),
    **{f"csr-{how}": (lambda how: lambda c: dict(X=malformed_csr(c, how)))(how)
       for how in ["index-too-large", "index-negative", "indptr-decreasing",
                   "indptr-not-from-0", "indptr-past-data", "indptr-short", "csc", "coo",
                   "dtype", "n-features"]},
}
TARGET_BAD = {
    "y-f32": lambda c: dict(y=f32(c["y"])),
    "y-wrong-outputs": lambda c: dict(y=np.zeros((N, O + 1))),
    "y-wrong-rows": lambda c: dict(y=np.zeros((N + 1, O))),
    "y-1d": lambda c: dict(y=np.zeros(N)),
    "y-noncontiguous": lambda c: dict(y=noncontig_rows(c["y"])),
    "sw-f32": lambda c: dict(sw=f32(c["sw"])),
    "sw-wrong-length": lambda c: dict(sw=np.ones(N - 1)),
    "sw-2d": lambda c: dict(sw=np.ones((N, 1))),
    "sw-noncontiguous": lambda c: dict(sw=np.ones(2 * N)[::2]),
}
TRAIN_BAD = {
    "order-int32": lambda c: dict(order=c["order"].astype(np.int32)),
    "order-float": lambda c: dict(order=c["order"].astype(np.float64)),
    "order-list": lambda c: dict(order=list(range(N))),
    "order-2d": lambda c: dict(order=c["order"][None, :].copy()),
    "order-noncontiguous": lambda c: dict(order=np.repeat(c["order"], 2)[::2]),
    "order-too-large": lambda c: dict(order=np.array([0, 1, N], np.int64)),
    "order-negative": lambda c: dict(order=np.array([0, -1, 2], np.int64)),
    "batch-size-0": lambda c: dict(batch_size=0),
    "batch-size-negative": lambda c: dict(batch_size=-3),
    "params-readonly": lambda c: dict(params=readonly(c["params"])),
    "optimizer-wrong-size": lambda c: dict(
        opt=_engine.Optimizer("sgd", c["net"].n_params + 1, np.float64)),
    "optimizer-wrong-dtype": lambda c: dict(
        opt=_engine.Optimizer("adam", c["net"].n_params, np.float32)),
}
GRAD_BAD = {
    "grad-wrong-dtype": lambda c: dict(grad=np.zeros(c["net"].n_params, np.float32)),
    "grad-wrong-length": lambda c: dict(grad=np.zeros(c["net"].n_params - 1)),
    "grad-readonly": lambda c: dict(grad=readonly(np.zeros(c["net"].n_params))),
    "grad-noncontiguous": lambda c: dict(grad=np.zeros(2 * c["net"].n_params)[::2]),
    "chunk-rows-0": lambda c: dict(chunk_rows=0),
}
PREDICT_BAD = {
    "out-wrong-shape": lambda c: dict(out=np.zeros((N, O + 1))),
    "out-wrong-dtype": lambda c: dict(out=np.zeros((N, O), np.float32)),
    "out-readonly": lambda c: dict(out=readonly(np.zeros((N, O)))),
    "out-fortran": lambda c: dict(out=np.zeros((N, O), order="F")),
    "chunk-rows-0": lambda c: dict(chunk_rows=0),
    "chunk-rows-negative": lambda c: dict(chunk_rows=-1),
}


def readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def assert_untouched(c, before):
    np.testing.assert_array_equal(c["params"], before["params"])
    assert c["opt"].step == 0
    assert not c["opt"].moment_1.any() and not c["opt"].moment_2.any()


# what each rejection says: the argument at fault, and what is wrong with it
# (the engine's own check of a sparse structure or sample index names the
# class of argument only)
ENGINE_CHECK = r"fastmlp engine: invalid arguments \(sizes, sample indices or sparse structure\)"
MESSAGES = {
    "X-1d": r"X has shape \(3,\)", "X-f32": "X must have dtype float64, got float32",
    "X-fortran": "X must be C-contiguous", "X-int": "X must have dtype float64, got int64",
    "X-noncontiguous": "X must be C-contiguous",
    "X-too-few-features": "X has 2 features, the network expects 3",
    "X-wrong-n-features": "X has 4 features, the network expects 3",
    "batch-size-0": r"batch_size must be an integer in \[1, 2\*\*31\), got 0",
    "batch-size-negative": r"batch_size must be an integer in \[1, 2\*\*31\), got -3",
    "chunk-rows-0": r"chunk_rows must be an integer in \[1, 2\*\*31\), got 0",
    "chunk-rows-negative": r"chunk_rows must be an integer in \[1, 2\*\*31\), got -1",
    "csr-coo": "sparse input must be CSR, got coo", "csr-csc": "sparse input must be CSR, got csc",
    "csr-dtype": "X.data must have dtype float64, got float32",
    "csr-index-negative": ENGINE_CHECK, "csr-index-too-large": ENGINE_CHECK,
    "csr-indptr-decreasing": ENGINE_CHECK, "csr-indptr-not-from-0": "malformed CSR matrix",
    "csr-indptr-past-data": "malformed CSR matrix", "csr-indptr-short": "malformed CSR matrix",
    "csr-n-features": "X has 4 features, the network expects 3",
    "optimizer-wrong-dtype": "moment_1 must have dtype float64, got float32",
    "optimizer-wrong-size": r"moment_1 has shape \(27,\), expected \(26,\)",
    "order-2d": r"order has shape \(1, 6\)", "order-float": "order must have dtype .*int64.*, got float64",
    "order-int32": "order must have dtype .*int64.*, got int32",
    "order-list": "order must be a numpy array, got list",
    "order-negative": ENGINE_CHECK, "order-noncontiguous": "order must be C-contiguous",
    "order-too-large": ENGINE_CHECK, "params-2d": "params must be 1-D",
    "params-f32-X-f64": "X must have dtype float32, got float64",
    "params-int": "params must be float32 or float64, got int64",
    "params-list": "params must be a numpy array, got list",
    "params-noncontiguous": "params must be C-contiguous",
    "params-readonly": "params must be writeable",
    "params-wrong-length": r"params has shape \(27,\), expected \(26,\)",
    "sw-2d": r"sample_weight has shape \(6, 1\), expected \(6,\)",
    "sw-f32": "sample_weight must have dtype float64, got float32",
    "sw-noncontiguous": "sample_weight must be C-contiguous",
    "sw-wrong-length": r"sample_weight has shape \(5,\), expected \(6,\)",
    "y-1d": r"y has shape \(6,\), expected \(6, 2\)", "y-f32": "y must have dtype float64, got float32",
    "y-noncontiguous": "y must be C-contiguous",
    "y-wrong-outputs": r"y has shape \(6, 3\), expected \(6, 2\)",
    "y-wrong-rows": r"y has shape \(7, 2\), expected \(6, 2\)",
    "grad-noncontiguous": "grad must be C-contiguous", "grad-readonly": "grad must be writeable",
    "grad-wrong-dtype": "grad must have dtype float64, got float32",
    "grad-wrong-length": r"grad has shape \(25,\), expected \(26,\)",
    "out-fortran": "out must be C-contiguous", "out-readonly": "out must be writeable",
    "out-wrong-dtype": "out must have dtype float64, got float32",
    "out-wrong-shape": r"out has shape \(6, 3\), expected \(6, 2\)",
}


def test_every_rejection_has_its_message():
    assert set(MESSAGES) == set(COMMON_BAD) | set(TARGET_BAD) | set(TRAIN_BAD) | set(
        GRAD_BAD) | set(PREDICT_BAD)


def untouched_buffers(kw):
    """Copies of the caller's output buffers among the bad arguments (a
    rejected call must not have written to them)."""
    return {k: np.array(v, copy=True) for k, v in kw.items()
            if k in ("grad", "out") and isinstance(v, np.ndarray)}


@pytest.mark.parametrize("bad", sorted({**COMMON_BAD, **TARGET_BAD, **TRAIN_BAD}))
def test_train_epoch_rejects(case, bad):
    before = {"params": case["params"].copy()}
    kw = {**COMMON_BAD, **TARGET_BAD, **TRAIN_BAD}[bad](case)
    with pytest.raises(ValueError, match=MESSAGES[bad]):
        train(case, **kw)
    assert_untouched(case, before)


@pytest.mark.parametrize("bad", sorted({**COMMON_BAD, **TARGET_BAD, **GRAD_BAD}))
def test_loss_grad_rejects(case, bad):
    before = case["params"].copy()
    kw = {**COMMON_BAD, **TARGET_BAD, **GRAD_BAD}[bad](case)
    buffers = untouched_buffers(kw)
    with pytest.raises(ValueError, match=MESSAGES[bad]):
        grad(case, **kw)
    np.testing.assert_array_equal(case["params"], before)
    for name, copy in buffers.items():
        np.testing.assert_array_equal(kw[name], copy)


@pytest.mark.parametrize("bad", sorted({**COMMON_BAD, **PREDICT_BAD}))
def test_predict_rejects(case, bad):
    before = case["params"].copy()
    kw = {**COMMON_BAD, **PREDICT_BAD}[bad](case)
    buffers = untouched_buffers(kw)
    with pytest.raises(ValueError, match=MESSAGES[bad]):
        pred(case, **kw)
    np.testing.assert_array_equal(case["params"], before)
    for name, copy in buffers.items():
        np.testing.assert_array_equal(kw[name], copy)


def test_valid_case_runs(case):
    """The fixture itself is valid (so the rejections above are about the
    broken argument), for dense and CSR input."""
    for X in (case["X"], csr_case(case)):
        train(case, X=X)
        grad(case, X=X)
        pred(case, X=X)
    for X in (np.zeros((0, F)),):
        assert pred(case, X=X).shape == (0, O)


@pytest.mark.parametrize("args,kwargs", [
    (([3, 4, 2], ["sigmoid"], "squared_error"), {}),
    (([3, 4, 2], ["softmax"], "squared_error"), {}),
    (([3, 4, 2], ["exp"], "poisson"), {}),
    (([3, 4, 2], ["relu"], "log_loss"), {}),
    (([3, 4, 2], ["relu"], "squared_error"), {"leaky_relu_slope": -0.1}),
    (([3, 4, 2], ["relu"], "squared_error"), {"leaky_relu_slope": float("nan")}),
    (([3, 4, 2], ["relu"], "squared_error"), {"alpha": -1.0}),
    (([3, 4, 2], ["relu"], "squared_error"), {"alpha": float("nan")}),
    (([3, 0, 2], ["relu"], "squared_error"), {}),
    (([3, -4, 2], ["relu"], "squared_error"), {}),
    (([3, 4, 2 ** 31], ["relu"], "squared_error"), {}),
    (([3], [], "squared_error"), {}),
    (([3, 4, 2], [], "squared_error"), {}),
    (([3, 4, 2], ["relu", "relu"], "squared_error"), {}),
], ids=["unknown-act", "softmax-hidden", "exp-hidden", "unknown-loss", "negative-slope",
        "nan-slope", "negative-alpha", "nan-alpha", "zero-size", "negative-size",
        "size-2**31", "one-size", "too-few-acts", "too-many-acts"])
def test_network_rejects(args, kwargs):
    with pytest.raises(ValueError):
        _engine.Network(*args, **kwargs)


def test_optimizer_rejects():
    with pytest.raises(ValueError):
        _engine.Optimizer("adagrad", 5, np.float64)
    with pytest.raises(ValueError):
        _engine.Optimizer("sgd", 5, np.float64, moment_1=np.zeros(4))
    with pytest.raises(ValueError):
        _engine.Optimizer("adam", 5, np.float64, moment_2=np.zeros(5, np.float32))
    with pytest.raises(ValueError):
        _engine.Optimizer("adam", 5, np.float64, moment_1=readonly(np.zeros(5)))
    opt = _engine.Optimizer("adam", 5, np.float64)
    p, g = np.zeros(5), np.ones(5)
    for bad_p, bad_g in [(np.zeros(5, np.float32), np.ones(5, np.float32)),  # dtype != opt's
                         (np.zeros(6), np.ones(6)),                          # size != opt's
                         (p, np.ones(4)),                                    # grad shape
                         (p, np.ones(5, np.float32)),                        # grad dtype
                         (readonly(p), g),
                         (np.zeros(10)[::2], g)]:
        with pytest.raises(ValueError):
            opt.step_params(bad_p, bad_g)
    assert opt.step == 0 and not opt.moment_1.any()


def test_kernel_twins_reject():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError):
        _kernels.bias_activation(x, None, "sigmoid")
    with pytest.raises(ValueError):
        _kernels.bias_activation(x, np.zeros(3), "relu")
    with pytest.raises(ValueError):
        _kernels.bias_activation(x, np.zeros(2, np.float32), "relu")
    with pytest.raises(ValueError):
        _kernels.bias_activation(x.astype(int), None, "relu")
    with pytest.raises(ValueError):
        _kernels.activation_backward(x, x, "softmax")
    with pytest.raises(ValueError):
        _kernels.activation_backward(x, np.zeros((2, 3)), "relu")
    with pytest.raises(ValueError):
        _kernels.loss_delta(x, x, "hinge")
    with pytest.raises(ValueError):
        _kernels.loss_delta(x, np.zeros((3, 3)), "squared_error")
    with pytest.raises(ValueError):
        _kernels.loss_delta(x, x, "squared_error", np.ones(2))
    w, b = np.zeros((2, 4)), np.zeros(4)
    with pytest.raises(ValueError):
        _kernels.dense_forward(x.astype(np.float32), w, b, "relu")
    with pytest.raises(ValueError):
        _kernels.dense_forward(np.zeros((3, 3)), w, b, "relu")
    with pytest.raises(ValueError):
        _kernels.dense_forward(x, w, np.zeros(3), "relu")
    with pytest.raises(ValueError):
        _kernels.dense_backward(np.zeros((3, 3)), x, w)


def test_edge_arguments_rejected(case):
    """Arguments Python accepts but the engine's C types cannot hold."""
    with pytest.raises(ValueError, match="numpy array"):
        pred(case, X=case["X"].tolist())
    with pytest.raises(ValueError, match="numpy array"):
        train(case, X=case["X"].tolist())
    with pytest.raises(ValueError, match="batch_size"):
        train(case, batch_size=2**31)
    with pytest.raises(ValueError, match="batch_size"):
        train(case, batch_size=0)
    with pytest.raises(ValueError, match="chunk_rows"):
        pred(case, chunk_rows=2**40)
    with pytest.raises(ValueError, match="at least one sample"):
        grad(case, X=np.zeros((0, F)), y=np.zeros((0, O)), sw=None)
    with pytest.raises(ValueError, match="data_loss_scale"):
        _engine.Network([F, H, O], ["relu"], "squared_error", data_loss_scale=float("nan"))
    with pytest.raises(ValueError, match="slope"):
        _kernels.bias_activation(np.zeros((2, 2)), None, "leaky_relu", leaky_relu_slope=-1)


# ---- the regularizers' settings ----

NAN = float("nan")


@pytest.mark.parametrize("kwargs,match", [
    (dict(dropout=[-0.1]), "dropout rates"),
    (dict(dropout=[1.0]), "dropout rates"),
    (dict(dropout=[1.5]), "dropout rates"),
    (dict(dropout=[NAN]), "dropout rates"),
    (dict(dropout=[0.1, 0.1]), "one entry per hidden layer"),
    (dict(dropout=[]), "one entry per hidden layer"),
    (dict(batch_norm=[True, False]), "one entry per hidden layer"),
    (dict(batch_norm=[]), "one entry per hidden layer"),
    (dict(batch_norm=[True], batch_norm_momentum=-0.1), "batch_norm_momentum"),
    (dict(batch_norm=[True], batch_norm_momentum=1.1), "batch_norm_momentum"),
    (dict(batch_norm=[True], batch_norm_momentum=NAN), "batch_norm_momentum"),
    (dict(batch_norm=[True], batch_norm_eps=0.0), "batch_norm_eps"),
    (dict(batch_norm=[True], batch_norm_eps=-1e-5), "batch_norm_eps"),
    (dict(batch_norm=[True], batch_norm_eps=NAN), "batch_norm_eps"),
    (dict(l1=-0.1), "l1"),
    (dict(l1=NAN), "l1"),
], ids=["dropout-negative", "dropout-1", "dropout-1.5", "dropout-nan", "dropout-too-many",
        "dropout-too-few", "bn-too-many", "bn-too-few", "momentum-negative", "momentum-1.1",
        "momentum-nan", "eps-0", "eps-negative", "eps-nan", "l1-negative", "l1-nan"])
def test_network_rejects_regularizer_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _engine.Network([F, H, O], ["relu"], "squared_error", **kwargs)


def test_network_regularizer_layout():
    """Valid settings: the batch-norm parameters follow the biases, per
    batch-normalized layer in order; zero rates and no flags are the plain net."""
    net = _engine.Network([3, 4, 5, 6, 2], ["relu", "elu", "gelu"], "squared_error",
                          dropout=[0.0, 0.5, 0.2], batch_norm=[True, False, True])
    plain = _engine.Network([3, 4, 5, 6, 2], ["relu", "elu", "gelu"], "squared_error")
    assert net.n_weights == plain.n_weights == 3 * 4 + 4 * 5 + 5 * 6 + 6 * 2
    assert net.batch_norm_units == 4 + 6
    assert net.n_params == plain.n_params + 2 * (4 + 6)
    end = plain.n_params  # the last bias ends here
    assert net.batch_norm_slices() == [end, None, end + 2 * 4]
    assert plain.batch_norm_slices() == [None, None, None] and plain.batch_norm_units == 0
    assert net.intercept_slices() == plain.intercept_slices()
    zero = _engine.Network([3, 4, 2], ["relu"], "squared_error", dropout=[0.0],
                           batch_norm=[False])
    assert zero.n_params == _engine.Network([3, 4, 2], ["relu"], "squared_error").n_params


@pytest.mark.parametrize("kwargs", [dict(weight_decay=-0.1), dict(weight_decay=NAN),
                                    dict(max_grad_norm=-1.0), dict(max_grad_norm=NAN)],
                         ids=["decay-negative", "decay-nan", "clip-negative", "clip-nan"])
def test_optimizer_rejects_regularizer_settings(kwargs):
    with pytest.raises(ValueError, match="weight_decay and max_grad_norm"):
        _engine.Optimizer("adamw", 5, np.float64, **kwargs)


def test_optimizer_step_rejects_bad_n_weights():
    opt = _engine.Optimizer("adamw", 5, np.float64, weight_decay=0.1)
    for bad in (-1, 6):
        with pytest.raises(ValueError, match="n_weights"):
            opt.step_params(np.zeros(5), np.ones(5), bad)
    assert opt.step == 0


@pytest.fixture
def bn_case(case):
    """The fixture's problem on a net with batch norm and dropout."""
    net = _engine.Network([F, H, O], ["relu"], "squared_error", dropout=[0.5],
                          batch_norm=[True])
    rng = np.random.default_rng(3)
    return dict(case, net=net, params=rng.standard_normal(net.n_params),
                opt=_engine.Optimizer("adam", net.n_params, np.float64),
                running=np.concatenate([np.zeros(H), np.ones(H)]))


def train_bn(c, **kw):
    a = dict(c)
    a.update(kw)
    return _engine.train_epoch(a["net"], a["params"], a["opt"], a["X"], a["y"], a["sw"],
                               a["order"], a.get("batch_size", 2),
                               dropout_seed=a.get("seed", 0), running_stats=a["running"])


RUNNING_BAD = {
    "missing": lambda c: None,
    "too-long": lambda c: np.zeros(2 * H + 1),
    "too-short": lambda c: np.zeros(H),
    "float32": lambda c: np.zeros(2 * H, np.float32),
    "2d": lambda c: np.zeros((2, H)),
    "noncontiguous": lambda c: np.zeros(4 * H)[::2],
    "readonly": lambda c: readonly(np.zeros(2 * H)),
    "list": lambda c: [0.0] * (2 * H),
}


@pytest.mark.parametrize("bad", sorted(RUNNING_BAD))
def test_train_epoch_rejects_running_stats(bn_case, bad):
    before = bn_case["params"].copy()
    running = RUNNING_BAD[bad](bn_case)
    with pytest.raises(ValueError, match="running_stats"):
        train_bn(bn_case, running=running)
    np.testing.assert_array_equal(bn_case["params"], before)
    assert bn_case["opt"].step == 0


def test_running_stats_for_a_net_without_batch_norm(case):
    """A net without batch norm takes none (or an empty vector), not a
    vector of some other net's size."""
    train(case)
    _engine.train_epoch(case["net"], case["params"], case["opt"], case["X"], case["y"],
                        case["sw"], case["order"], 2, running_stats=np.zeros(0))
    with pytest.raises(ValueError, match="running_stats"):
        _engine.train_epoch(case["net"], case["params"], case["opt"], case["X"], case["y"],
                            case["sw"], case["order"], 2, running_stats=np.zeros(2 * H))


BAD_SEEDS = [-1, 2**64, 2**70, NAN, float("inf"), None, 1.5, "seven"]
BAD_SEED_IDS = ["negative", "2**64", "2**70", "nan", "inf", "none", "fraction", "string"]


@pytest.mark.parametrize("seed", BAD_SEEDS, ids=BAD_SEED_IDS)
def test_bad_dropout_seed_rejected(bn_case, seed):
    """Seeds are integers in [0, 2**64): anything else is a ValueError that
    names dropout_seed (a float is not silently truncated), before any change."""
    before = bn_case["params"].copy()
    running = bn_case["running"].copy()
    with pytest.raises(ValueError, match="dropout_seed"):
        train_bn(bn_case, seed=seed)
    np.testing.assert_array_equal(bn_case["params"], before)
    np.testing.assert_array_equal(bn_case["running"], running)
    assert bn_case["opt"].step == 0
    with pytest.raises(ValueError, match="dropout_seed"):
        _engine.loss_grad(bn_case["net"], bn_case["params"], bn_case["X"], bn_case["y"],
                          dropout_seed=seed)
    with pytest.raises(ValueError, match="dropout_seed"):
        _kernels.dropout(np.ones((2, 2)), np.arange(2, dtype=np.int64), 0, seed, 0.5)
    with pytest.raises(ValueError, match="dropout_seed"):
        _kernels.dropout_keep(seed, 0, 0, 0.5)


def test_valid_seeds_accepted(bn_case):
    """The range's ends and NumPy integers are seeds: each call gives a
    finite loss and gradient, a NumPy integer the same result as the Python
    integer of its value, and different seeds different dropout masks (so
    the seed is used, not dropped)."""
    losses, grads = {}, {}
    for seed in (0, 2**64 - 1, np.uint64(2**64 - 1), np.int64(5), 5, 2**32):
        loss, g = _engine.loss_grad(bn_case["net"], bn_case["params"], bn_case["X"],
                                    bn_case["y"], dropout_seed=seed)
        assert np.isfinite(loss) and np.isfinite(g).all()
        losses[(type(seed).__name__, int(seed))], grads[int(seed)] = loss, g
        c = dict(bn_case, params=bn_case["params"].copy(), running=bn_case["running"].copy())
        assert np.isfinite(train_bn(c, seed=seed))
        assert not np.array_equal(c["params"], bn_case["params"])  # it trained
    assert losses[("uint64", 2**64 - 1)] == losses[("int", 2**64 - 1)]
    assert losses[("int64", 5)] == losses[("int", 5)]
    assert len({losses[("int", s)] for s in (0, 2**64 - 1, 5, 2**32)}) == 4


def test_batch_norm_calls_rejected(bn_case):
    c = bn_case
    # batch statistics over all samples: they must fit one chunk
    with pytest.raises(ValueError, match="one chunk"):
        _engine.loss_grad(c["net"], c["params"], c["X"], c["y"], chunk_rows=N - 1)
    _engine.loss_grad(c["net"], c["params"], c["X"], c["y"], chunk_rows=N)
    # prediction takes a folded net
    with pytest.raises(ValueError, match="batch norm"):
        _engine.predict(c["net"], c["params"], c["X"])
    # a valid epoch runs and moves the running statistics
    running = c["running"].copy()
    train_bn(c)
    assert not np.array_equal(c["running"], running)


def test_regularizer_kernel_twins_reject():
    x = np.ones((3, 2))
    g, b = np.ones(2), np.zeros(2)
    bad_forward = [
        (lambda: _kernels.batch_norm_forward(np.ones(3), g, b), "x"),
        (lambda: _kernels.batch_norm_forward(x.astype(int), g, b), "x"),
        (lambda: _kernels.batch_norm_forward(np.ones((0, 2)), g, b), "at least one row"),
        (lambda: _kernels.batch_norm_forward(np.ones((3, 0)), np.ones(0), np.ones(0)),
         "at least one row"),
        (lambda: _kernels.batch_norm_forward(readonly(x), g, b), "x"),
        (lambda: _kernels.batch_norm_forward(np.ones((3, 4))[:, ::2], g, b), "x"),
        (lambda: _kernels.batch_norm_forward(x.copy(), np.ones(3), b), "gamma"),
        (lambda: _kernels.batch_norm_forward(x.copy(), g, np.zeros(2, np.float32)), "beta"),
        (lambda: _kernels.batch_norm_forward(x.copy(), g, b, running_mean=np.zeros(2)),
         "running_mean and running_var"),
        (lambda: _kernels.batch_norm_forward(x.copy(), g, b, 1e-5, np.zeros(2), np.zeros(3)),
         "running_var"),
        (lambda: _kernels.batch_norm_forward(x.copy(), g, b, 1e-5, readonly(np.zeros(2)),
                                            np.zeros(2)), "running_mean"),
        (lambda: _kernels.batch_norm_forward(x.copy(), g, b, eps=0.0), "eps"),
        (lambda: _kernels.batch_norm_forward(x.copy(), g, b, eps=NAN), "eps"),
        (lambda: _kernels.batch_norm_forward(x.copy(), g, b, momentum=1.5), "momentum"),
        (lambda: _kernels.batch_norm_forward(x.copy(), g, b, momentum=NAN), "momentum"),
    ]
    xhat, inv = np.zeros((3, 2)), np.ones(2)
    bad_backward = [
        (lambda: _kernels.batch_norm_backward(x.copy(), np.zeros((2, 2)), inv, g), "xhat"),
        (lambda: _kernels.batch_norm_backward(x.copy(), xhat, np.ones(3), g), "inv_std"),
        (lambda: _kernels.batch_norm_backward(x.copy(), xhat, inv, np.ones(1)), "gamma"),
        (lambda: _kernels.batch_norm_backward(x.copy(), xhat.astype(np.float32), inv, g),
         "xhat"),
        (lambda: _kernels.batch_norm_backward(readonly(x), xhat, inv, g), "delta"),
    ]
    rows = np.arange(3, dtype=np.int64)
    bad_dropout = [
        (lambda: _kernels.dropout(x, rows[:2], 0, 1, 0.5), "rows"),
        (lambda: _kernels.dropout(x, rows.astype(np.int32), 0, 1, 0.5), "rows"),
        (lambda: _kernels.dropout(x, rows[None, :], 0, 1, 0.5), "rows"),
        (lambda: _kernels.dropout(np.ones(3), rows, 0, 1, 0.5), "x"),
        (lambda: _kernels.dropout(x.astype(int), rows, 0, 1, 0.5), "x"),
        (lambda: _kernels.dropout(x, rows, 0, 1, -0.1), "rate"),
        (lambda: _kernels.dropout(x, rows, 0, 1, 1.0), "rate"),
        (lambda: _kernels.dropout(x, rows, 0, 1, NAN), "rate"),
        (lambda: _kernels.dropout_keep(1, 0, 0, -0.1), "rate"),
        (lambda: _kernels.dropout_keep(1, 0, 0, 1.0), "rate"),
        (lambda: _kernels.dropout_keep(1, 0, 0, NAN), "rate"),
    ]
    for call, match in bad_forward + bad_backward + bad_dropout:
        with pytest.raises(ValueError, match=match):
            call()


# ---- allocations ----

HUGE_PRELUDE = """
    import numpy as np
    from fastmlp import _engine
    H = 2 ** 24
    ROWS = 2 ** 22
    # every row of the workspace holds H activations: ROWS * H * 4 bytes =
    # 2**48 bytes, more than any x86-64 address space, whatever the overcommit
    # policy.  params (200 MB) and X are np.zeros: never touched, no real memory.
    net = _engine.Network([1, H, 1], ["relu"], "squared_error")
    params = np.zeros(net.n_params, np.float32)
    X = np.zeros((ROWS, 1), np.float32)
    def outcome(f):
        try:
            f()
        except MemoryError:
            return "MemoryError"
        except ValueError:
            return "ValueError"
        return "no error"
"""


def test_impossible_workspace_raises_memory_error():
    rc, out, err = run_python(HUGE_PRELUDE + """
    print("predict", outcome(lambda: _engine.predict(net, params, X, chunk_rows=ROWS)))
    y = np.zeros((ROWS, 1), np.float32)
    print("loss_grad", outcome(lambda: _engine.loss_grad(net, params, X, y, chunk_rows=ROWS)))
    opt = _engine.Optimizer("sgd", net.n_params, np.float32)
    order = np.arange(ROWS, dtype=np.int64)
    print("train_epoch", outcome(lambda: _engine.train_epoch(net, params, opt, X, y, None,
                                                             order, ROWS)))
    # nothing was changed
    print("untouched", opt.step == 0 and not params.any() and not opt.moment_1.any())
    # and the engine still works after a failed allocation
    small = _engine.Network([1, 3, 1], ["relu"], "squared_error")
    p = np.ones(small.n_params, np.float32)
    print("after", _engine.predict(small, p, np.ones((2, 1), np.float32)).ravel().tolist())
    """)
    assert rc == 0, f"the interpreter died (status {rc}): {err[-2000:]}"
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    assert lines == {"predict": "MemoryError", "loss_grad": "MemoryError",
                     "train_epoch": "MemoryError", "untouched": "True",
                     "after": "[7.0, 7.0]"}, out + err


def test_overflowing_parameter_count_rejected():
    """Layer sizes below 2**31 whose parameter count overflows int64: it
    wrapped to n_params == 1 with negative offsets (reading far outside
    params); the network must be rejected, not built."""
    M = 2 ** 31 - 1
    sizes = [M - 1, M, M, M, M, 5]  # sum of (s_l + 1) * s_{l+1} = 2**64 + 1
    assert sum((a + 1) * b for a, b in zip(sizes, sizes[1:])) == 2 ** 64 + 1
    rc, out, err = run_python(f"""
    import numpy as np, scipy.sparse as sp
    from fastmlp import _engine
    try:
        net = _engine.Network({sizes}, ["identity"] * 4, "squared_error")
    except ValueError:
        print("ValueError")
    else:
        print("built", net.n_params, net.intercept_slices()[-1], flush=True)
        X = sp.csr_matrix((1, {sizes[0]}), dtype=np.float64)
        _engine.predict(net, np.zeros(net.n_params), X)
    """)
    assert rc == 0 and out.strip() == "ValueError", (rc, out, err[-2000:])
    # a parameter vector too large to address in bytes is rejected as well
    with pytest.raises(ValueError):
        _engine.Network([M, M, 1], ["relu"], "squared_error")
    # a huge network below the limit keeps a consistent layout
    net = _engine.Network([2 ** 28, M, 1], ["relu"], "squared_error")
    assert net.n_params == (2 ** 28 + 1) * M + (M + 1)
    assert net.intercept_slices()[-1] == (net.n_params - 1, net.n_params)


def test_huge_layer_network_is_described_correctly():
    """A layer of 2**30 units: sizes and offsets do not overflow."""
    net = _engine.Network([1, 2 ** 30, 1], ["relu"], "squared_error")
    assert net.n_params == 2 * 2 ** 30 + (2 ** 30 + 1)
    assert net.coef_slices()[1][:2] == (2 ** 30, 2 * 2 ** 30)
    assert net.intercept_slices() == [(2 ** 31, 2 ** 31 + 2 ** 30),
                                      (2 ** 31 + 2 ** 30, 2 ** 31 + 2 ** 30 + 1)]


# ---- pickling ----

@pytest.mark.parametrize("extras", [{}, dict(l1=0.1, dropout=[0.3, 0.0], batch_norm=[False, True],
                                             batch_norm_momentum=0.3, batch_norm_eps=1e-3)],
                         ids=["plain", "regularized"])
def test_network_pickle_round_trip(extras):
    net = _engine.Network([5, 4, 3, 2], ["leaky_relu", "tanh"], "binary_cross_entropy",
                          leaky_relu_slope=0.2, alpha=0.3, data_loss_scale=0.5, **extras)
    net2 = pickle.loads(pickle.dumps(net))
    for attr in ("layer_sizes", "hidden_activations", "loss", "leaky_relu_slope", "alpha",
                 "data_loss_scale", "n_params", "n_outputs", "output_activation", "l1",
                 "dropout", "batch_norm", "batch_norm_momentum", "batch_norm_eps",
                 "batch_norm_units", "n_weights"):
        assert getattr(net2, attr) == getattr(net, attr), attr
    assert net2.coef_slices() == net.coef_slices()
    assert net2.intercept_slices() == net.intercept_slices()
    assert net2.batch_norm_slices() == net.batch_norm_slices()
    rng = np.random.default_rng(1)
    p = rng.standard_normal(net.n_params)
    X, y = rng.standard_normal((7, 5)), rng.integers(0, 2, (7, 2)).astype(float)
    l1, g1 = _engine.loss_grad(net, p, X, y, dropout_seed=9)
    l2, g2 = _engine.loss_grad(net2, p, X, y, dropout_seed=9)
    assert l1 == l2
    np.testing.assert_array_equal(g1, g2)


@pytest.mark.parametrize("kind", ["sgd", "adam", "rmsprop", "adamw"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_optimizer_pickle_round_trip(kind, dtype):
    rng = np.random.default_rng(2)
    n = 9
    opt = _engine.Optimizer(kind, n, dtype, learning_rate=0.03, momentum=0.7,
                            nesterov=False, beta_1=0.8, beta_2=0.95, epsilon=1e-6,
                            weight_decay=0.2, max_grad_norm=0.5)
    p = rng.standard_normal(n).astype(dtype)
    for _ in range(3):
        opt.step_params(p, rng.standard_normal(n).astype(dtype), 4)
    opt2 = pickle.loads(pickle.dumps(opt))
    for attr in ("kind", "learning_rate", "momentum", "nesterov", "beta_1", "beta_2",
                 "epsilon", "step", "weight_decay", "max_grad_norm"):
        assert getattr(opt2, attr) == getattr(opt, attr), attr
    for m in ("moment_1", "moment_2"):
        a, b = getattr(opt, m), getattr(opt2, m)
        assert b.dtype == dtype
        np.testing.assert_array_equal(a, b)
        assert not np.shares_memory(a, b)
    # both continue identically
    q = p.copy()
    for _ in range(3):
        g = rng.standard_normal(n).astype(dtype)
        opt.step_params(p, g, 4)
        opt2.step_params(q, g, 4)
    np.testing.assert_array_equal(p, q)
    assert opt.step == opt2.step == 6


# ---- Ctrl-C and the GIL ----

LONG_CALL_PRELUDE = """
    import os, signal, sys, threading, time
    import numpy as np
    from fastmlp import _engine
    rng = np.random.default_rng(0)
    n, f = 20000, 20
    X = rng.standard_normal((n, f))
    y = rng.standard_normal((n, 3))
    net = _engine.Network([f, 64, 64, 3], ["tanh", "relu"], "squared_error")
    params = 0.1 * rng.standard_normal(net.n_params)
    opt = _engine.Optimizer("adam", net.n_params, np.float64)
    # an epoch of 200 passes over the data: far longer than the test waits
    order = np.tile(rng.permutation(n), 200).astype(np.int64)
    calls = {
        "train_epoch": lambda: _engine.train_epoch(net, params, opt, X, y, None, order, 16),
        "loss_grad": lambda: [_engine.loss_grad(net, params, X, y, chunk_rows=1)
                              for _ in range(200)],
        "predict": lambda: [_engine.predict(net, params, X, chunk_rows=1)
                            for _ in range(400)],
    }
"""


@pytest.mark.parametrize("call", ["train_epoch", "loss_grad", "predict"])
def test_ctrl_c_interrupts_long_call(call):
    """SIGINT (sent from a thread ~1 s into the call) raises KeyboardInterrupt
    from the running engine call within 2 s of the signal."""
    rc, out, err = run_python(LONG_CALL_PRELUDE + f"""
    sent = []
    def fire():
        time.sleep(1.0)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=fire, daemon=True).start()
    t0 = time.perf_counter()
    try:
        calls["{call}"]()
    except KeyboardInterrupt:
        t1 = time.perf_counter()
        print("interrupted", t1 - sent[0], t1 - t0, opt.step, flush=True)
    else:
        print("finished", time.perf_counter() - t0, flush=True)
    """, timeout=120)
    assert rc == 0, err[-2000:]
    words = out.split()
    assert words and words[0] == "interrupted", f"not interrupted: {out} {err[-2000:]}"
    latency, elapsed, steps = float(words[1]), float(words[2]), int(words[3])
    assert latency < 2.0, f"KeyboardInterrupt {latency:.3f} s after SIGINT"
    assert elapsed > latency  # it was running when the signal came
    if call == "train_epoch":
        # it stopped mid-epoch, and the step counter says how far it got
        assert 0 < steps < 200 * 20000 // 16


def test_ctrl_c_from_parent_process():
    """The terminal's Ctrl-C: the parent sends SIGINT to the busy child."""
    code = textwrap.dedent(LONG_CALL_PRELUDE + """
    print("start", flush=True)
    t0 = time.perf_counter()
    try:
        calls["train_epoch"]()
    except KeyboardInterrupt:
        print("interrupted", time.perf_counter() - t0, flush=True)
    else:
        print("finished", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "start"
        time.sleep(0.7)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        latency = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and out.startswith("interrupted"), (out, err[-2000:])
    # includes the child's exit: still well under the 2 s budget
    assert latency < 2.0, f"child exited {latency:.3f} s after SIGINT"


@pytest.mark.parametrize("call", ["train_epoch", "loss_grad", "predict"])
def test_gil_released_during_engine_call(call):
    """A pure-Python thread keeps running while the engine works."""
    rng = np.random.default_rng(3)
    n, f = 4000, 20
    X = rng.standard_normal((n, f))
    y = rng.standard_normal((n, 3))
    net = _engine.Network([f, 128, 3], ["tanh"], "squared_error")
    params = 0.1 * rng.standard_normal(net.n_params)
    opt = _engine.Optimizer("sgd", net.n_params, np.float64, learning_rate=1e-4)

    def make_run(reps):
        order = np.tile(np.arange(n), 2 * reps).astype(np.int64)
        Xbig, ybig = np.tile(X, (reps, 1)), np.tile(y, (reps, 1))
        return {
            "train_epoch": lambda: _engine.train_epoch(net, params, opt, X, y, None, order, 8),
            "loss_grad": lambda: _engine.loss_grad(net, params, Xbig, ybig, chunk_rows=1),
            "predict": lambda: _engine.predict(net, params, Xbig, chunk_rows=1),
        }[call]

    # grow the work until one call lasts long enough to observe (the engine
    # is fast, and machines differ)
    reps = 10
    while True:
        run = make_run(reps)
        t = time.perf_counter()
        run()
        duration = time.perf_counter() - t
        if duration > 0.2 or reps >= 2560:
            break
        reps *= 4
    assert duration > 0.1, f"the call is too short ({duration:.3f} s) to test anything"

    # The engine call runs in a worker thread; this (Python) thread, once the
    # worker has set `entered` just before the call, counts loop iterations
    # until it reaches TARGET or sees `left` (set when the call returns).  It
    # passes when it reaches TARGET first: it ran Python code during the
    # call.  A call holding the GIL freezes this loop until the call returns,
    # after only the iterations squeezed in while the worker takes the GIL
    # back to enter the call (measured 25 000-100 000 with a C loop that
    # holds the GIL standing in for the call); a call
    # without it lets the loop run TARGET iterations (about 0.1 s of one
    # core) well within a call that lasts over 0.2 s alone.  The decision is
    # the order of two events, not a speed; on a loaded machine a call that
    # was still too short is retried 4 and 16 times longer.
    TARGET = 500_000
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-3)
    try:
        for attempt in range(3):
            entered, left = threading.Event(), threading.Event()
            errors = []

            def work():
                try:
                    entered.set()
                    run()
                except BaseException as exc:  # reported below
                    errors.append(exc)
                finally:
                    left.set()

            worker = threading.Thread(target=work)
            worker.start()
            entered.wait()
            ticks = 0
            while ticks < TARGET and not left.is_set():
                ticks += 1
            worker.join()
            assert not errors, errors
            if ticks >= TARGET:
                break
            reps *= 4
            run = make_run(reps)
    finally:
        sys.setswitchinterval(old)
    assert ticks >= TARGET, (
        f"a Python thread ran only {ticks} loop iterations during a {call} call "
        f"{4 ** attempt} times the size of one lasting {duration:.3f} s: the call "
        "holds the GIL")


def test_concurrent_calls_on_separate_models_agree():
    """Two threads training two models at once give the sequential results."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3000, 10))
    y = rng.standard_normal((3000, 2))
    net = _engine.Network([10, 32, 2], ["relu"], "squared_error")
    p0 = 0.1 * rng.standard_normal(net.n_params)
    orders = [rng.permutation(3000).astype(np.int64) for _ in range(2)]

    def train_one(order):
        p = p0.copy()
        opt = _engine.Optimizer("adam", net.n_params, np.float64)
        for _ in range(10):
            _engine.train_epoch(net, p, opt, X, y, None, order, 16)
        return p

    sequential = [train_one(o) for o in orders]
    results = [None, None]
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, train_one(orders[i])))
               for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(results, sequential):
        np.testing.assert_array_equal(a, b)
