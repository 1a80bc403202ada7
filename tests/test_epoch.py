"""`train_epoch` against the same computation done batch by batch in NumPy
(reference forward, backward and optimizer update), its two row paths
(gathered rows for a shuffled order, rows used in place for a consecutive
run), CSR input, and chunked `loss_grad`."""
import numpy as np
import pytest
import scipy.sparse as sp

from _engine_ref import (GEMM_IDS, GEMM_PATHS, LOSSES, RefOptimizer, _engine, init_params,
                         make_problem)
from _engine_ref import train_epoch as ref_train_epoch

N, F, O = 40, 6, 3
SIZES = (F, 5, 4, O)
BATCH = 7  # 40 = 5 * 7 + 5: the last batch is partial
OPTS = {
    "adam": dict(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-8),
    "sgd": dict(learning_rate=0.05, momentum=0.9, nesterov=True),
    "sgd-plain": dict(learning_rate=0.05, momentum=0.5, nesterov=False),
    "rmsprop": dict(learning_rate=0.01, beta_2=0.9, epsilon=1e-8),
}
# params after an epoch: relative to max |params|
PARAM_RTOL = {np.float64: 1e-12, np.float32: 2e-5}
LOSS_RTOL = {np.float64: 1e-11, np.float32: 1e-5}


def make(loss, dtype, seed=0, alpha=0.05, weighted=True, acts=("tanh", "relu"), gemm=None):
    rng = np.random.default_rng(seed)
    net = _engine.Network(SIZES, list(acts), loss, alpha=alpha, leaky_relu_slope=0.1,
                          data_loss_scale=1 / O if loss == "squared_error" else 1.0,
                          **(GEMM_PATHS[gemm] if gemm else {}))
    X, y = make_problem(loss, N, F, O, dtype, rng)
    params = init_params(net, dtype, rng, scale=0.4)
    sw = rng.uniform(0.1, 2.0, N).astype(dtype) if weighted else None
    return net, params, X, y, sw, rng


def optimizers(kind, n, dtype):
    name = kind.split("-")[0]
    return (_engine.Optimizer(name, n, dtype, **OPTS[kind]),
            RefOptimizer(name, n, dtype, **OPTS[kind]))


def rel(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def n_batches(n_order, batch):
    return -(-n_order // batch)


def run_both(net, params, X, y, sw, order, batch, kind, epochs=1):
    dtype = params.dtype.type
    p_eng, p_ref = params.copy(), params.copy()
    opt, ref = optimizers(kind, net.n_params, dtype)
    for epoch in range(epochs):
        loss_eng = _engine.train_epoch(net, p_eng, opt, X, y, sw, order, batch)
        Xr = X.toarray() if sp.issparse(X) else X
        loss_ref = ref_train_epoch(net, p_ref, ref, Xr, y, sw, order, batch)
        err = abs(loss_eng - loss_ref) / abs(loss_ref)
        assert err < LOSS_RTOL[dtype], (
            f"epoch {epoch}: loss sum {loss_eng!r} vs reference {loss_ref!r} (rel {err:.3e})")
        err = rel(p_eng, p_ref)
        assert err < PARAM_RTOL[dtype], (
            f"epoch {epoch}: params differ from the NumPy reference, max rel diff {err:.3e}")
        assert opt.step == ref.step == (epoch + 1) * n_batches(len(order), batch)
    if kind != "rmsprop":
        assert rel(opt.moment_1, ref.m1) < 10 * PARAM_RTOL[dtype]
    if kind.startswith(("adam", "rmsprop")):
        assert rel(opt.moment_2, ref.m2) < 10 * PARAM_RTOL[dtype]
    return p_eng, opt


@pytest.mark.parametrize("kind", ["adam", "sgd"])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("gemm", GEMM_IDS)
def test_epoch_matches_numpy_reference(gemm, dtype, loss, kind):
    """Shuffled order, partial last batch, sample weights, alpha > 0; two
    epochs so the optimizer state carries over."""
    net, params, X, y, sw, rng = make(loss, dtype, gemm=gemm)
    order = rng.permutation(N).astype(np.int64)
    run_both(net, params, X, y, sw, order, BATCH, kind, epochs=2)


@pytest.mark.parametrize("kind", ["sgd-plain", "rmsprop"])
@pytest.mark.parametrize("acts", [("logistic", "leaky_relu"), ("identity", "tanh")])
def test_epoch_other_optimizers_and_activations(kind, acts):
    net, params, X, y, sw, rng = make("binary_cross_entropy", np.float64, seed=1, acts=acts)
    order = rng.permutation(N).astype(np.int64)
    run_both(net, params, X, y, sw, order, 6, kind)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_epoch_unweighted_no_alpha(dtype):
    net, params, X, y, sw, rng = make("cross_entropy", dtype, alpha=0.0, weighted=False)
    order = rng.permutation(N).astype(np.int64)
    run_both(net, params, X, y, None, order, BATCH, "adam")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_identity_order_in_place_matches_gathered(dtype):
    """order = arange uses the rows in place; training on X[perm] in place
    equals training on X through the gathered (shuffled) path with order perm."""
    net, params, X, y, sw, rng = make("squared_error", dtype)
    perm = rng.permutation(N).astype(np.int64)
    ident = np.arange(N, dtype=np.int64)
    # the in-place path itself is right
    run_both(net, params, X, y, sw, ident, BATCH, "adam")
    p1, p2 = params.copy(), params.copy()
    o1, _ = optimizers("adam", net.n_params, dtype)
    o2, _ = optimizers("adam", net.n_params, dtype)
    l1 = _engine.train_epoch(net, p1, o1, X, y, sw, perm, BATCH)          # gathered
    l2 = _engine.train_epoch(net, p2, o2, np.ascontiguousarray(X[perm]),
                             np.ascontiguousarray(y[perm]), np.ascontiguousarray(sw[perm]),
                             ident, BATCH)                                # in place
    tol = 1e-13 if dtype is np.float64 else 1e-6
    assert rel(p1, p2) <= tol, f"gathered vs in-place params: max rel diff {rel(p1, p2):.3e}"
    assert abs(l1 - l2) <= tol * abs(l2), f"loss sums {l1!r} vs {l2!r}"
    np.testing.assert_allclose(o1.moment_1, o2.moment_1, rtol=0, atol=tol)


def test_consecutive_runs_at_offsets():
    """Batches that are consecutive runs not starting at 0 (in place, with
    offsets into X, y and sample weights), mixed with gathered batches."""
    net, params, X, y, sw, rng = make("poisson", np.float64, seed=2)
    blocks = [np.arange(s, min(s + BATCH, N)) for s in range(0, N, BATCH)]
    rng.shuffle(blocks)
    if blocks[0][0] == 0:
        blocks.append(blocks.pop(0))
    order = np.concatenate(blocks).astype(np.int64)
    assert order[0] != 0
    run_both(net, params, X, y, sw, order, BATCH, "sgd")
    # same blocks, batch size not aligned with them: partly consecutive batches
    run_both(net, params, X, y, sw, order, 5, "adam")


def test_order_subset_and_repeats():
    """order may visit a subset, and samples several times (bootstrap)."""
    net, params, X, y, sw, rng = make("cross_entropy", np.float64, seed=3)
    order = rng.integers(0, N, 23).astype(np.int64)
    assert len(np.unique(order)) < len(order)
    run_both(net, params, X, y, sw, order, 4, "adam")


def test_batch_larger_than_order():
    """One batch with every sample: one optimizer step with loss_grad's gradient."""
    net, params, X, y, sw, _ = make("binary_cross_entropy", np.float64, seed=4)
    loss, grad = _engine.loss_grad(net, params, X, y, sw)
    p = params.copy()
    opt = _engine.Optimizer("sgd", net.n_params, np.float64, learning_rate=0.1, momentum=0.0)
    total = _engine.train_epoch(net, p, opt, X, y, sw, np.arange(N, dtype=np.int64), 10 * N)
    assert abs(total - loss * N) <= 1e-12 * abs(loss * N), f"{total!r} vs {loss * N!r}"
    np.testing.assert_allclose(p, params - 0.1 * grad, rtol=0, atol=1e-15)
    assert opt.step == 1


def test_empty_order_changes_nothing():
    net, params, X, y, sw, _ = make("squared_error", np.float64)
    p = params.copy()
    opt = _engine.Optimizer("adam", net.n_params, np.float64)
    total = _engine.train_epoch(net, p, opt, X, y, sw, np.zeros(0, np.int64), BATCH)
    assert total == 0.0 and opt.step == 0
    np.testing.assert_array_equal(p, params)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_csr_input_trains_like_dense(dtype, loss):
    net, params, X, y, sw, rng = make(loss, dtype, seed=5)
    X = (X * (rng.random(X.shape) < 0.4)).astype(dtype)
    X[3] = 0  # an empty row
    Xs = sp.csr_matrix(X)
    perm = rng.permutation(N).astype(np.int64)
    ident = np.arange(N, dtype=np.int64)
    tol = PARAM_RTOL[dtype] / 10
    for order in (perm, ident):
        pd, ps = params.copy(), params.copy()
        od, _ = optimizers("adam", net.n_params, dtype)
        os_, _ = optimizers("adam", net.n_params, dtype)
        ld = _engine.train_epoch(net, pd, od, X, y, sw, order, BATCH)
        ls = _engine.train_epoch(net, ps, os_, Xs, y, sw, order, BATCH)
        assert rel(ps, pd) < tol, f"CSR vs dense params: max rel diff {rel(ps, pd):.3e}"
        assert abs(ls - ld) < tol * abs(ld), f"CSR vs dense loss sum {ls!r} vs {ld!r}"
    # and against the NumPy reference
    run_both(net, params, Xs, y, sw, perm, BATCH, "sgd")


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_loss_grad_chunked_equals_one_chunk(dtype, weighted, sparse):
    net, params, X, y, sw, rng = make("cross_entropy", dtype, seed=6, weighted=weighted)
    if sparse:
        X = sp.csr_matrix((X * (rng.random(X.shape) < 0.5)).astype(dtype))
    loss1, g1 = _engine.loss_grad(net, params, X, y, sw, chunk_rows=N)
    loss_big, g_big = _engine.loss_grad(net, params, X, y, sw, chunk_rows=10 * N)
    np.testing.assert_array_equal(g1, g_big)
    tol = 1e-13 if dtype is np.float64 else 2e-6
    for chunk in (1, 3, 7, N - 1):
        grad = np.full_like(params, np.nan)
        loss, g = _engine.loss_grad(net, params, X, y, sw, grad=grad, chunk_rows=chunk)
        assert g is grad
        assert rel(g, g1) < tol, f"chunk_rows={chunk}: gradient max rel diff {rel(g, g1):.3e}"
        assert abs(loss - loss1) <= tol * abs(loss1), f"chunk_rows={chunk}: {loss!r} vs {loss1!r}"
