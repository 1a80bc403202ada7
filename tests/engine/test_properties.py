"""Property tests (hypothesis): random shapes, sizes, dtypes, layouts, sparse
patterns and extreme values thrown at the engine's bindings and at the
estimators.  Each call must either give a correct result (equal to the NumPy
reference where the values are moderate, finite and well-formed otherwise)
or raise the ValueError its drawn input calls for (decided from the input,
and matched by message) -- never crash.  The networks draw every activation,
L2 and L1, dropout and batch norm; the penalties are checked apart, to the
rounding of each gradient entry (_check_penalty), since a share of the
largest entry (RTOL) would let a wrong L2 term through in float32.

The properties run in a child pytest process (test_properties_in_subprocess),
so a crash fails that test instead of killing the run; .ci/run also runs
this file under AddressSanitizer + UndefinedBehaviorSanitizer.  The example
draws are derandomized (reproducible CI); FASTMLP_HYPOTHESIS_RANDOM=1 draws
fresh ones.
"""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import _engine_ref as ref  # noqa: E402
from _engine_ref import _engine, _kernels  # noqa: E402
from conftest import max_rel_diff  # noqa: E402

CHILD = os.environ.get("FASTMLP_PROPERTY_CHILD") == "1"
COUNTS = os.environ.get("FASTMLP_PROPERTY_COUNTS")
child_only = pytest.mark.skipif(not CHILD, reason="runs in test_properties_in_subprocess")

# examples per property (FASTMLP_HYPOTHESIS_SCALE multiplies them, for
# longer exploratory runs)
_SCALE = float(os.environ.get("FASTMLP_HYPOTHESIS_SCALE", "1"))
N_BINDINGS = int(100 * _SCALE)
N_ESTIMATORS = int(60 * _SCALE)

SETTINGS = settings(
    deadline=None,
    database=None,
    derandomize=os.environ.get("FASTMLP_HYPOTHESIS_RANDOM") != "1",
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)

# Values a float array may hold: moderate ones, and the extremes.
EXTREMES = [0.0, -0.0, 1e300, -1e300, 1e38, -3.4e38, 5e-324, -5e-324, 1e-310, 1e-45,
            1e-30, 65504.0, 1e19]
RTOL = {np.float32: 2e-3, np.float64: 1e-9}
# the least share of each property's examples that must reach the reference
# comparison (observed shares are about twice these)
COMPARED_SHARE = {"bindings_predict_and_loss_grad/compared": 0.3,
                  "bindings_predict_and_loss_grad/compared-grad": 0.3,
                  "bindings_train_epoch/compared": 0.15,
                  "estimators_random_inputs/compared": 0.5}
_counts = {}


def _count(name):
    _counts[name] = _counts.get(name, 0) + 1


def teardown_module():
    if COUNTS and _counts:
        with open(COUNTS, "a") as f:
            for name, n in _counts.items():
                f.write(json.dumps({"test": name, "examples": n}) + "\n")


@st.composite
def float_arrays(draw, shape, extreme):
    """(float64 array of `shape`, whether it holds extreme values)."""
    size = int(np.prod(shape))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([0.1, 1.0, 3.0]))
    a = scale * rng.standard_normal(size)
    has_extreme = False
    if extreme and size:
        n_extreme = draw(st.integers(1, min(size, 4)))
        for _ in range(n_extreme):
            a[draw(st.integers(0, size - 1))] = draw(st.sampled_from(EXTREMES))
        has_extreme = True
    return a.reshape(shape), has_extreme


@st.composite
def networks(draw, regularizers=True):
    """(network, dtype, the Network arguments but alpha); regularizers:
    draw dropout rates and batch norm per hidden layer too."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n_features = draw(st.integers(1, 7))
    hidden = draw(st.lists(st.integers(1, 9), min_size=0, max_size=3))
    loss = draw(st.sampled_from(ref.LOSSES))
    n_outputs = draw(st.integers(1, 5))
    # every hidden activation, scikit-learn's and the engine's own
    acts = [draw(st.sampled_from(ref.ALL_HIDDEN_ACTIVATIONS)) for _ in hidden]
    gemm = draw(st.sampled_from(["blas", "own", None]))  # None: the timed choice
    alpha = draw(st.sampled_from([0.0, 1e-3, 0.5]))
    l1 = draw(st.sampled_from([0.0, 0.0, 1e-3, 0.5]))
    dropout = batch_norm = None
    if regularizers and hidden:
        dropout = [draw(st.sampled_from([0.0, 0.0, 0.25, 0.5])) for _ in hidden]
        if draw(st.integers(0, 2)) == 0:
            batch_norm = [draw(st.booleans()) for _ in hidden]
    kwargs = dict(layer_sizes=[n_features] + hidden + [n_outputs], hidden_activations=acts,
                  loss=loss, l1=l1, gemm=gemm, dropout=dropout, batch_norm=batch_norm)
    return _engine.Network(alpha=alpha, **kwargs), dtype, kwargs


@st.composite
def problems(draw, min_rows=0, regularizers=True):
    """A network, parameters, X (dense or CSR, maybe with empty rows and
    extreme values), y and sample weights, all of one dtype."""
    net, dtype, net_kwargs = draw(networks(regularizers))
    n = draw(st.integers(min_rows, 25))
    n_features = net.layer_sizes[0]
    extreme = draw(st.booleans()) if draw(st.integers(0, 3)) == 0 else False
    X, x_extreme = draw(float_arrays((n, n_features), extreme))
    params, p_extreme = draw(float_arrays((net.n_params,), extreme and draw(st.booleans())))
    sparse = draw(st.booleans())
    with np.errstate(over="ignore"):
        params = params.astype(dtype)
        X = X.astype(dtype)
    if sparse:
        keep = np.random.default_rng(draw(st.integers(0, 999))).random(X.shape) < 0.5
        empty_rows = draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=3)) if n else []
        keep[empty_rows] = False
        X = sp.csr_matrix(np.where(keep, X, 0))
        if draw(st.booleans()) and X.nnz:  # unsorted column indices
            for r in range(n):
                lo, hi = X.indptr[r], X.indptr[r + 1]
                X.indices[lo:hi] = X.indices[lo:hi][::-1].copy()
                X.data[lo:hi] = X.data[lo:hi][::-1].copy()
    rng = np.random.default_rng(draw(st.integers(0, 999)))
    y = ref.make_targets(net.loss, n, net.n_outputs, dtype, rng)
    sw = None
    if draw(st.booleans()) and n:
        sw = rng.uniform(0.1, 3.0, n).astype(dtype)
        if draw(st.booleans()):
            sw[rng.integers(0, n)] = 0.0
    moderate = not (x_extreme or p_extreme)
    return dict(net=net, dtype=dtype, params=params, X=X, y=y, sw=sw, n=n,
                moderate=moderate, net_kwargs=net_kwargs)


def _workspace(draw, net, dtype, rows, dense):
    """None, the right workspace, or a buffer of a random (maybe too small)
    size, where the bindings take one."""
    if not hasattr(_engine, "workspace"):
        return {}
    kind = draw(st.sampled_from(["none", "exact", "random"]))
    if kind == "none":
        return {"workspace": None}
    if kind == "exact":
        return {"workspace": _engine.workspace(net, dtype, max(rows, 1), dense)}
    return {"workspace": np.zeros(draw(st.integers(0, 4096)), np.uint8)}


@child_only
def test_bindings_predict_and_loss_grad():
    @settings(SETTINGS, max_examples=N_BINDINGS)
    @given(problems(), st.integers(1, 30), st.data())
    def check(p, chunk_rows, data):
        _count("bindings_predict_and_loss_grad")
        net, dtype, params, X = p["net"], p["dtype"], p["params"], p["X"]
        ws = _workspace(data.draw, net, dtype, min(chunk_rows, max(p["n"], 1)),
                        not sp.issparse(X))
        batch_norm = net.batch_norm_units > 0
        if batch_norm:
            # inference needs the running statistics folded into the weights
            with pytest.raises(ValueError, match="predict takes a network without batch norm"):
                _engine.predict(net, params, X, chunk_rows=chunk_rows, **ws)
        else:
            with np.errstate(all="ignore"):
                out = _engine.predict(net, params, X, chunk_rows=chunk_rows, **ws)
            assert out.shape == (p["n"], net.n_outputs) and out.dtype == dtype
        if p["n"] == 0:
            with pytest.raises(ValueError, match="at least one sample"):
                _engine.loss_grad(net, params, X, p["y"], p["sw"], chunk_rows=chunk_rows)
            return
        if batch_norm and p["n"] > chunk_rows:
            # batch statistics are over all samples, so they must fit one chunk
            with pytest.raises(ValueError, match="must fit one chunk"):
                _engine.loss_grad(net, params, X, p["y"], p["sw"], chunk_rows=chunk_rows,
                                  **ws)
            return
        with np.errstate(all="ignore"):
            loss, grad = _engine.loss_grad(net, params, X, p["y"], p["sw"],
                                           chunk_rows=chunk_rows, **ws)
        assert grad.shape == params.shape and grad.dtype == dtype
        if not p["moderate"]:
            return
        if not batch_norm:
            with np.errstate(all="ignore"):
                expected = ref.forward(net, params, X)[-1]
            if np.isfinite(expected).all() and np.abs(expected).max(initial=0) < 1e30:
                _count("bindings_predict_and_loss_grad/compared")
                assert max_rel_diff(out, expected) < RTOL[dtype], (out, expected)
        sw = p["sw"]
        if sw is not None and sw.sum() == 0:
            return
        with np.errstate(all="ignore"):
            ref_loss, ref_grad = ref.loss_and_grad(net, params, X, p["y"], sw)
        if np.isfinite(ref_loss) and np.isfinite(ref_grad).all() and abs(ref_loss) < 1e30:
            _count("bindings_predict_and_loss_grad/compared-grad")
            assert abs(loss - ref_loss) <= RTOL[dtype] * max(abs(ref_loss), 1e-3)
            assert max_rel_diff(grad, ref_grad) < RTOL[dtype]
            if net.alpha or net.l1:
                _count("bindings_predict_and_loss_grad/compared-penalty")
                _check_penalty(p, chunk_rows)

    check()


def _check_penalty(p, chunk_rows):
    """The penalties' share of loss_grad, to float rounding of each entry.

    RTOL[float32] is a share of the largest gradient entry, and the L2 and L1
    terms (alpha W / sum(sw), l1 sign(W) / sum(sw)) may be smaller than
    that: a dropped or wrong penalty could hide in it.  Here the same network
    without penalties, on the same GEMM path (so the data term is computed
    identically), gives the data term; the difference of the two gradients
    is the penalty term up to the rounding of one addition and one division
    in the params' dtype, and must equal the reference's (both computed in
    float64, where the data terms cancel to 1e-16)."""
    net, dtype, params, X, y, sw = (p[k] for k in ("net", "dtype", "params", "X", "y", "sw"))
    kwargs = dict(p["net_kwargs"], gemm=p["net_kwargs"]["gemm"] or "own")
    with_penalty = _engine.Network(alpha=net.alpha, **kwargs)
    without = _engine.Network(**dict(kwargs, l1=0.0))
    with np.errstate(all="ignore"):
        loss_a, grad_a = _engine.loss_grad(with_penalty, params, X, y, sw,
                                           chunk_rows=chunk_rows)
        loss_b, grad_b = _engine.loss_grad(without, params, X, y, sw, chunk_rows=chunk_rows)
        as64 = dict(params=params.astype(np.float64), X=X.astype(np.float64),
                    y=y.astype(np.float64), sample_weight=None if sw is None else
                    sw.astype(np.float64))
        ref_loss_a, ref_grad_a = ref.loss_and_grad(with_penalty, **as64)
        ref_loss_b, ref_grad_b = ref.loss_and_grad(without, **as64)
    if not (np.isfinite(grad_a).all() and np.isfinite(grad_b).all()):
        return
    eps = np.finfo(dtype).eps
    grad_a, grad_b = grad_a.astype(np.float64), grad_b.astype(np.float64)
    expected = ref_grad_a - ref_grad_b
    # each engine gradient's rounding, and the reference difference's
    # cancellation (of data terms that may dwarf the penalty)
    tol = (8 * eps * (np.abs(grad_a) + np.abs(grad_b))
           + 8 * np.finfo(np.float64).eps * (np.abs(ref_grad_a) + np.abs(ref_grad_b)) + 1e-300)
    excess = np.abs((grad_a - grad_b) - expected) - tol
    assert (excess <= 0).all(), (
        f"penalty gradient off by {np.max(excess + tol):.3g} at entry "
        f"{int(np.argmax(excess))} (alpha={net.alpha}, l1={net.l1})")
    assert abs((loss_a - loss_b) - (ref_loss_a - ref_loss_b)) <= 8 * eps * (
        abs(loss_a) + abs(loss_b)) + 8 * np.finfo(np.float64).eps * (
        abs(ref_loss_a) + abs(ref_loss_b)) + 1e-300


@child_only
def test_bindings_train_epoch():
    @settings(SETTINGS, max_examples=N_BINDINGS)
    @given(problems(min_rows=1), st.data())
    def check(p, data):
        _count("bindings_train_epoch")
        net, dtype, n = p["net"], p["dtype"], p["n"]
        draw = data.draw
        kind = draw(st.sampled_from(["sgd", "adam", "rmsprop", "adamw"]))
        lr = draw(st.sampled_from([1e-3, 0.1]))
        # clipping off, or at a length the gradients may or may not exceed
        opt_kw = dict(max_grad_norm=draw(st.sampled_from([0.0, 0.0, 0.05, 5.0])))
        if kind == "adamw":
            opt_kw["weight_decay"] = draw(st.sampled_from([0.0, 0.01, 0.5]))
        # sample indices with repeats, maybe none, maybe invalid
        order = np.array(draw(st.lists(st.integers(0, n - 1), max_size=2 * n)), np.int64)
        invalid = draw(st.integers(0, 5)) == 0
        if invalid:
            pos = draw(st.integers(0, len(order)))
            bad = draw(st.sampled_from([-1, n, n + 7, -(2**62), 2**62]))
            order = np.insert(order, pos, bad).astype(np.int64)
        batch_size = draw(st.integers(1, n + 3))
        ws = _workspace(draw, net, dtype, min(batch_size, max(len(order), 1)),
                        not sp.issparse(p["X"]))
        opt = _engine.Optimizer(kind, net.n_params, dtype, learning_rate=lr, **opt_kw)
        params = p["params"].copy()
        # the epoch's dropout masks; batch norm's running statistics (means, variances)
        dropout_seed = draw(st.sampled_from([0, 1, 2**32 + 3, 2**64 - 1]))
        U = net.batch_norm_units
        start_stats = None
        if U:
            start_stats = np.concatenate([np.zeros(U), np.ones(U)]).astype(dtype)
        running = None if start_stats is None else start_stats.copy()
        extra = dict(ws, dropout_seed=dropout_seed, running_stats=running)
        if invalid:
            with pytest.raises(ValueError, match="sample indices"):
                _engine.train_epoch(net, params, opt, p["X"], p["y"], p["sw"], order,
                                    batch_size, **extra)
            np.testing.assert_array_equal(params, p["params"])
            if U:
                np.testing.assert_array_equal(running, start_stats)
            assert opt.step == 0
            return
        with np.errstate(all="ignore"):
            loss_sum = _engine.train_epoch(net, params, opt, p["X"], p["y"], p["sw"], order,
                                           batch_size, **extra)
        n_batches = -(-len(order) // batch_size)
        assert opt.step == n_batches
        if not p["moderate"] or len(order) == 0:
            return
        if kind != "sgd" and dtype == np.float32:
            # Adam's and RMSProp's steps lr * g / (|g| + eps) are ill-posed for
            # gradient entries at float32 rounding level: any two correct
            # implementations may differ by up to lr there
            return
        if kind != "sgd" and U:
            # likewise in float64 with batch norm: the gradient of the biases
            # (and of any shift) before a batch norm is 0 exactly, so
            # rounding decides the sign of those steps
            return
        sw = p["sw"]
        if sw is not None and any(sw[order[i:i + batch_size]].sum() == 0
                                  for i in range(0, len(order), batch_size)):
            _count("bindings_train_epoch/zero-weight-batch")
            return  # a batch of zero total weight: 0/0, no reference value
        ref_params = p["params"].copy()
        ref_running = None if start_stats is None else start_stats.copy()
        ref_opt = ref.RefOptimizer(kind, net.n_params, dtype, learning_rate=lr, **opt_kw)
        with np.errstate(all="ignore"):
            ref_loss = ref.train_epoch(net, ref_params, ref_opt, p["X"], p["y"], sw, order,
                                       batch_size, dropout_seed=dropout_seed,
                                       running_stats=ref_running)
        if not (np.isfinite(ref_loss) and np.isfinite(ref_params).all()) or \
                abs(ref_loss) > 1e30:
            _count("bindings_train_epoch/non-finite-reference")
            return
        _count("bindings_train_epoch/compared")
        assert max_rel_diff(params, ref_params) < RTOL[dtype]
        assert abs(loss_sum - ref_loss) <= RTOL[dtype] * max(abs(ref_loss), 1e-3)
        if U:
            assert max_rel_diff(running, ref_running) < RTOL[dtype]

    check()


def _csr_valid(indptr, indices, n_rows, n_cols):
    indptr = indptr.astype(np.int64)  # no wrap-around in the differences
    return bool(len(indptr) == n_rows + 1 and indptr[0] == 0
                and np.all(np.diff(indptr) >= 0) and indptr[-1] <= len(indices)
                and np.all((indices[:indptr[-1]] >= 0) & (indices[:indptr[-1]] < n_cols)))


@child_only
def test_bindings_reject_corrupted_csr():
    """A CSR matrix with a random entry of indptr or indices overwritten by a
    random value: every binding that reads it raises ValueError if it is
    malformed, and computes normally if it is still well-formed."""
    @settings(SETTINGS, max_examples=N_BINDINGS)
    @given(problems(min_rows=1, regularizers=False), st.data())
    def check(p, data):
        _count("bindings_reject_corrupted_csr")
        draw = data.draw
        net, dtype, n = p["net"], p["dtype"], p["n"]
        X = sp.csr_matrix(p["X"]) if not sp.issparse(p["X"]) else p["X"].copy()
        X = sp.csr_matrix(np.where(X.toarray() == 0, 1.0, X.toarray()).astype(dtype))
        target = draw(st.sampled_from(["indptr", "indices"]))
        arr = X.indptr if target == "indptr" else X.indices
        value = draw(st.sampled_from([-1, 0, 1, net.layer_sizes[0], X.nnz, X.nnz + 1,
                                      2**31 - 1, -(2**31)]))
        arr[draw(st.integers(0, len(arr) - 1))] = value
        valid = _csr_valid(X.indptr, X.indices, n, net.layer_sizes[0])
        opt = _engine.Optimizer("sgd", net.n_params, dtype)
        params = p["params"].copy()
        w = params[net.coef_slices()[0][0]:net.coef_slices()[0][1]].reshape(
            net.coef_slices()[0][2]).copy()
        b = np.zeros(w.shape[1], dtype)
        calls = [
            lambda: _engine.predict(net, params, X),
            lambda: _engine.loss_grad(net, params, X, p["y"]),
            lambda: _engine.train_epoch(net, params, opt, X, p["y"], None,
                                        np.arange(n, dtype=np.int64), 3),
        ]
        if ref.KERNELS_BUILT:
            calls += [
                lambda: _kernels.dense_forward(X, w, b, "relu"),
                lambda: _kernels.dense_backward(np.ones((n, w.shape[1]), dtype), X, w),
            ]
        for call in calls:
            if valid:
                _count("bindings_reject_corrupted_csr/still-valid")
                with np.errstate(all="ignore"):
                    call()
            else:
                with pytest.raises(ValueError):
                    call()
        if not valid:
            np.testing.assert_array_equal(params, p["params"])

    check()


@child_only
def test_bindings_dense_kernels_random_shapes():
    """The dense layer kernels (both GEMM paths) on random shapes, including
    empty and single rows/columns and shapes off every blocking boundary."""
    @settings(SETTINGS, max_examples=N_BINDINGS)
    @given(st.sampled_from([np.float32, np.float64]), st.integers(0, 40),
           st.integers(1, 40), st.integers(1, 40),
           st.sampled_from(["identity", "relu", "tanh", "logistic", "leaky_relu"]),
           st.sampled_from(["blas", "own"]), st.booleans(), st.integers(0, 2**32 - 1))
    def check(dtype, n_rows, fan_in, fan_out, act, gemm, extreme, seed):
        _count("bindings_dense_kernels_random_shapes")
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n_rows, fan_in))
        if extreme and x.size:
            x.flat[rng.integers(0, x.size)] = rng.choice(EXTREMES)
        with np.errstate(over="ignore"):
            x = x.astype(dtype)
        w = rng.standard_normal((fan_in, fan_out)).astype(dtype)
        b = rng.standard_normal(fan_out).astype(dtype)
        dout = rng.standard_normal((n_rows, fan_out)).astype(dtype)
        with np.errstate(all="ignore"):
            out = _kernels.dense_forward(x, w, b, act, gemm=gemm)
            dinp, dw, db = _kernels.dense_backward(dout, x, w, gemm=gemm)
        assert out.shape == (n_rows, fan_out) and dinp.shape == x.shape
        assert dw.shape == w.shape and db.shape == b.shape
        if extreme:
            return
        x64, w64 = x.astype(np.float64), w.astype(np.float64)
        expected = ref.activation(act, x64 @ w64 + b)
        assert max_rel_diff(out, expected) < RTOL[dtype]
        assert max_rel_diff(dw, x64.T @ dout) < RTOL[dtype] or n_rows == 0 and not dw.any()
        assert max_rel_diff(dinp, dout @ w64.T) < RTOL[dtype] or n_rows == 0
        assert max_rel_diff(db, dout.sum(axis=0)) < RTOL[dtype] or n_rows == 0 and not db.any()

    check()


# ---------------------------------------------------------------------------
# Estimators


@st.composite
def estimator_cases(draw):
    task = draw(st.sampled_from(["binary", "multiclass", "multilabel", "regression",
                                 "regression-2"]))
    n = draw(st.integers(2, 30))
    n_features = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    extreme = draw(st.integers(0, 4)) == 0
    X, _ = draw(float_arrays((n, n_features), extreme))
    dtype = draw(st.sampled_from(["float64", "float32", "int64", "bool"]))
    if dtype in ("int64", "bool"):
        X = np.clip(np.round(X), -1e9, 1e9)
        X = X.astype(dtype)
    else:
        with np.errstate(over="ignore"):
            X = X.astype(dtype)
    if task == "binary":
        y = rng.integers(0, 2, n)
    elif task == "multiclass":
        y = rng.choice(np.array(["a", "b", "c"]), n)
    elif task == "multilabel":
        y = rng.integers(0, 2, (n, 3))
    elif task == "regression":
        y = rng.standard_normal(n)
    else:
        y = rng.standard_normal((n, 2))
    layout = draw(st.sampled_from(["C", "F", "strided", "readonly", "csr", "csc", "coo"]))
    solver = draw(st.sampled_from(["adam", "sgd", "lbfgs"]))
    params = dict(
        hidden_layer_sizes=tuple(draw(st.lists(st.integers(1, 6), max_size=2))),
        activation=draw(st.sampled_from(["identity", "logistic", "tanh", "relu"])),
        solver=solver,
        alpha=draw(st.sampled_from([0.0, 1e-4, 10.0])),
        batch_size=draw(st.one_of(st.just("auto"), st.integers(1, n + 2))),
        learning_rate_init=draw(st.sampled_from([1e-3, 0.1])),
        max_iter=draw(st.integers(1, 5)),
        early_stopping=solver != "lbfgs" and draw(st.integers(0, 3)) == 0,
        random_state=draw(st.integers(0, 3)),
    )
    if solver != "lbfgs" and draw(st.booleans()):
        # mini-batch solvers only (lbfgs refuses them)
        params["dropout"] = draw(st.sampled_from([0.0, 0.3]))
        params["batch_norm"] = draw(st.booleans())
    sw = None
    if draw(st.booleans()):
        sw = rng.uniform(0.0, 2.0, n)
    return task, X, y, sw, layout, params, extreme


def _layout(X, layout):
    if layout == "C":
        return X
    if layout == "F":
        return np.asfortranarray(X)
    if layout == "strided":
        big = np.zeros((2 * X.shape[0], 2 * X.shape[1]), X.dtype)
        big[::2, ::2] = X
        return big[::2, ::2]
    if layout == "readonly":
        X = X.copy()
        X.flags.writeable = False
        return X
    return sp.csr_matrix(X).asformat(layout)


def _expected_rejections(task, X, y, params):
    """The errors fit must raise for this input, as message patterns (any of
    them may come first); empty when the input is valid."""
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        # float32 extremes overflow to infinity (float64 ones stay finite)
        return ["Input X contains infinity"]
    reasons = []
    if params["early_stopping"]:
        # train_test_split(test_size=0.1), stratified where the classifier
        # has one output column: at most two classes (as scikit-learn's MLP)
        n = X.shape[0]
        n_val = int(np.ceil(0.1 * n))
        counts = np.unique(y, return_counts=True)[1] if y.ndim == 1 else None
        if task in ("binary", "multiclass") and len(counts) <= 2:
            if counts.min() < 2:
                reasons.append("least populated class")
            if n_val < len(counts):
                reasons.append("test_size = .* should be greater or equal to the number "
                               "of classes")
            if n - n_val < len(counts):
                reasons.append("train_size = .* should be greater or equal to the number "
                               "of classes")
        if n_val < 2:
            reasons.append("The validation set is too small")
    return reasons


def _clean(X):
    """The C-contiguous float array a layout is equivalent to."""
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    return np.ascontiguousarray(X, dtype)


@child_only
def test_estimators_random_inputs():
    """fit + predict on random small problems: a ValueError exactly when
    the input is invalid (_expected_rejections, with its message), or when
    extreme values make the solver diverge; otherwise a model with finite
    weights whose predictions have the right shape, equal to the model of
    the same data as a clean C-contiguous float array."""
    from fastmlp import MLPClassifier, MLPRegressor

    @settings(SETTINGS, max_examples=N_ESTIMATORS)
    @given(estimator_cases())
    def check(case):
        _count("estimators_random_inputs")
        task, X, y, sw, layout, params, extreme = case
        cls = MLPRegressor if task.startswith("regression") else MLPClassifier
        Xv = _layout(X, layout)
        rejections = _expected_rejections(task, X, y, params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if rejections:
                est = cls(**params)
                with pytest.raises(ValueError, match="|".join(rejections)):
                    est.fit(Xv, y, sample_weight=sw)
                assert not hasattr(est, "coefs_")
                _count("estimators_random_inputs/rejected")
                return
            try:
                model = cls(**params).fit(Xv, y, sample_weight=sw)
            except ValueError as exc:
                # valid input: only extreme values may make the solver
                # diverge, and then the estimator is left unfitted, never
                # with non-finite weights
                assert extreme and "non-finite parameter weights" in str(exc), exc
                est = cls(**params)
                with pytest.raises(ValueError, match="non-finite parameter weights"):
                    est.fit(Xv, y, sample_weight=sw)
                assert not hasattr(est, "coefs_")
                _count("estimators_random_inputs/diverged")
                return
            assert all(np.isfinite(a).all() for a in model.coefs_ + model.intercepts_)
            pred = model.predict(Xv)
            assert pred.shape[0] == X.shape[0] and pred.shape[1:] == np.shape(y)[1:]
            if cls is MLPClassifier:
                proba = model.predict_proba(Xv)
                assert proba.shape[0] == X.shape[0]
                if task != "multilabel":
                    # (an input of 1e300 may overflow the logits to inf - inf)
                    moderate_rows = np.all(np.abs(X.astype(np.float64)) < 1e30, axis=1)
                    np.testing.assert_allclose(proba[moderate_rows].sum(axis=1), 1,
                                               rtol=1e-4)
            if sp.issparse(Xv) and extreme:
                return  # CSR and dense sums round differently; extremes amplify it
            clean = cls(**params).fit(_clean(X), y, sample_weight=sw)
        sparse = sp.issparse(Xv)
        _count("estimators_random_inputs/compared")
        for a, b in zip(model.coefs_ + model.intercepts_, clean.coefs_ + clean.intercepts_):
            assert a.dtype == b.dtype
            if sparse:
                np.testing.assert_allclose(a, b, rtol=1e-4 if a.dtype == np.float32 else 1e-8,
                                           atol=1e-6 if a.dtype == np.float32 else 1e-12)
            else:
                np.testing.assert_array_equal(a, b)

    check()


# ---------------------------------------------------------------------------


def test_properties_in_subprocess(tmp_path):
    """Runs the properties above in a child pytest process: a crash there
    fails this test.  Every property ran its examples."""
    counts = tmp_path / "counts.jsonl"
    env = dict(os.environ, FASTMLP_PROPERTY_CHILD="1", FASTMLP_PROPERTY_COUNTS=str(counts))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider",
         "-k", "not test_properties_in_subprocess", "-W", "ignore::DeprecationWarning"],
        capture_output=True, text=True, env=env, timeout=600,
        cwd=os.path.dirname(__file__))
    report = proc.stdout[-6000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, f"status {proc.returncode}:\n{report}"
    ran = {}
    for line in counts.read_text().splitlines():
        entry = json.loads(line)
        ran[entry["test"]] = ran.get(entry["test"], 0) + entry["examples"]
    expected = {"bindings_predict_and_loss_grad": N_BINDINGS,
                "bindings_train_epoch": N_BINDINGS,
                "bindings_reject_corrupted_csr": N_BINDINGS,
                "estimators_random_inputs": N_ESTIMATORS}
    if ref.KERNELS_BUILT:
        expected["bindings_dense_kernels_random_shapes"] = N_BINDINGS
    assert set(expected) <= set(ran), ran
    for name, n in expected.items():
        # hypothesis may stop early after exhausting distinct examples
        assert ran[name] >= n // 2, (name, ran[name])
    print("hypothesis examples run:", json.dumps(ran))
    # enough examples reached the NumPy reference (the others were extreme
    # values, empty inputs or ill-posed float32 steps): a property whose
    # examples all skipped the comparison would prove nothing
    for name, share in COMPARED_SHARE.items():
        assert ran.get(name, 0) >= share * ran[name.split("/")[0]], (name, ran)
