"""`train_epoch` against the same computation done batch by batch in NumPy
(reference forward, backward and optimizer update), its two row paths
(gathered rows for a shuffled order, rows used in place for a consecutive
run), CSR input, and chunked `loss_grad`; then with the engine's
regularizers (dropout, batch norm with running statistics, L1, AdamW,
gradient clipping) against the reference batch by batch, and what truly
does not depend on the batching: dropout masks keyed by sample index."""
import numpy as np
import pytest
import scipy.sparse as sp

from _engine_ref import (GEMM_IDS, GEMM_PATHS, LOSSES, RefOptimizer, _engine,
                         init_batch_norm, init_params, make_problem, train_forward)
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


# ---- the engine's regularizers ----

BATCH_X = 13  # 40 = 3 * 13 + 1: the last batch has one row
# Adam's and RMSProp's steps lr * g / (|g| + epsilon) have the size lr for
# any |g| >> epsilon, rounding noise included: the biases of batch-normalized
# layers have a gradient of exactly 0 (the normalization removes them), so
# their computed gradient is noise (1e-8 in float32), and with epsilon 1e-8
# two correct implementations differ by lr there.  epsilon 1e-3 keeps such
# steps at noise level.  max_grad_norm: set per problem (see below).
EXTRA_OPTS = {
    "adamw": dict(learning_rate=0.01, weight_decay=0.5, epsilon=1e-3),
    "sgd": dict(learning_rate=0.05, momentum=0.9, nesterov=True),
    "rmsprop": dict(learning_rate=0.01, beta_2=0.9, epsilon=1e-3),
}
EXTRA_PARAM_RTOL = {np.float64: 1e-12, np.float32: 2e-5}  # observed 8e-15, 2e-6
EXTRA_LOSS_RTOL = {np.float64: 1e-13, np.float32: 5e-6}  # observed 7e-16, 2e-7


def make_extras(loss, dtype, seed=10, acts=("gelu", "swish"), dropout=(0.3, 0.5),
                batch_norm=(True, True), l1=0.01, alpha=0.05, weighted=True, gemm=None):
    """A net with the regularizers, its data, parameters (batch-norm scales
    and shifts at a generic point) and running statistics (2 U,)."""
    rng = np.random.default_rng(seed)
    net = _engine.Network(SIZES, list(acts), loss, alpha=alpha, l1=l1, dropout=list(dropout),
                          batch_norm=list(batch_norm), batch_norm_momentum=0.2,
                          batch_norm_eps=1e-4, leaky_relu_slope=0.1,
                          data_loss_scale=1 / O if loss == "squared_error" else 1.0,
                          **(GEMM_PATHS[gemm] if gemm else {}))
    X, y = make_problem(loss, N, F, O, dtype, rng)
    params = init_batch_norm(net, init_params(net, dtype, rng, scale=0.4), rng)
    sw = rng.uniform(0.1, 2.0, N).astype(dtype) if weighted else None
    U = net.batch_norm_units
    running = np.concatenate([0.3 * rng.standard_normal(U),
                              rng.uniform(0.5, 2.0, U)]).astype(dtype)
    return net, params, X, y, sw, running, rng


def extra_optimizers(kind, n, dtype, max_grad_norm=0.0):
    kw = dict(EXTRA_OPTS[kind], max_grad_norm=max_grad_norm)
    return _engine.Optimizer(kind, n, dtype, **kw), RefOptimizer(kind, n, dtype, **kw)


def median_batch_gradient_norm(net, params, X, y, sw, order, batch, seed):
    """A clipping threshold that the first batches' gradients (at the
    initial parameters) exceed about half the time."""
    norms = []
    for start in range(0, len(order), batch):
        rows = order[start:start + batch]
        if len(rows) > 1:
            _, g = _engine.loss_grad(net, params, X[rows], y[rows], sw[rows],
                                     dropout_seed=seed)
            norms.append(np.linalg.norm(g.astype(np.float64)))
    return float(np.median(norms))


@pytest.mark.parametrize("kind", sorted(EXTRA_OPTS))
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("gemm", GEMM_IDS)
def test_epoch_with_regularizers_matches_reference(gemm, dtype, loss, kind):
    """Dropout on both hidden layers, batch norm on both, L1 and L2, sample
    weights, clipping, shuffled order, a last batch of one row; two epochs
    with their own dropout seeds.  The engine is stepped one batch per call
    and compared with the reference after every batch (params, running
    statistics, loss); a whole-epoch call must give the same bits."""
    regularized_epochs_vs_reference(gemm, dtype, loss, kind)


def regularized_epochs_vs_reference(gemm, dtype, loss, kind):
    """The test above; returns the largest differences seen."""
    net, params, X, y, sw, running, rng = make_extras(loss, dtype, gemm=gemm)
    p_eng, p_ref, p_whole = params.copy(), params.copy(), params.copy()
    r_eng, r_ref, r_whole = running.copy(), running.copy(), running.copy()
    max_norm = median_batch_gradient_norm(net, params, X, y, sw, np.arange(N), BATCH_X, 0)
    opt, ref = extra_optimizers(kind, net.n_params, dtype, max_norm)
    opt_whole, _ = extra_optimizers(kind, net.n_params, dtype, max_norm)
    n_steps = 0
    worst = {"params": 0.0, "running": 0.0, "loss": 0.0}
    for epoch in range(2):
        seed = 2**33 + 1000 * epoch
        order = rng.permutation(N).astype(np.int64)
        epoch_loss = 0.0
        for start in range(0, N, BATCH_X):
            batch = order[start:start + BATCH_X]
            loss_eng = _engine.train_epoch(net, p_eng, opt, X, y, sw, batch, BATCH_X,
                                           dropout_seed=seed, running_stats=r_eng)
            loss_ref = ref_train_epoch(net, p_ref, ref, X, y, sw, batch, BATCH_X,
                                       dropout_seed=seed, running_stats=r_ref)
            n_steps += 1
            what = f"epoch {epoch}, batch at {start} ({len(batch)} rows)"
            errs = {"params": rel(p_eng, p_ref), "running": rel(r_eng, r_ref),
                    "loss": abs(loss_eng - loss_ref) / abs(loss_ref)}
            for key, err in errs.items():
                worst[key] = max(worst[key], err)
            assert errs["loss"] < EXTRA_LOSS_RTOL[dtype], (
                f"{what}: loss {loss_eng!r} vs {loss_ref!r}")
            assert errs["params"] < EXTRA_PARAM_RTOL[dtype], (
                f"{what}: params max rel diff {errs['params']:.3e}")
            assert errs["running"] < EXTRA_PARAM_RTOL[dtype], (
                f"{what}: running statistics max rel diff {errs['running']:.3e}")
            assert opt.step == ref.step == n_steps
            epoch_loss += loss_eng
        whole = _engine.train_epoch(net, p_whole, opt_whole, X, y, sw, order, BATCH_X,
                                    dropout_seed=seed, running_stats=r_whole)
        np.testing.assert_array_equal(p_whole, p_eng)
        np.testing.assert_array_equal(r_whole, r_eng)
        assert whole == epoch_loss
    assert 1 <= ref.n_clipped < n_steps  # clipping happened, and not always
    return worst


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_epoch_dropout_seed_decides(dtype):
    """The same seed gives the same bits; another seed (also in the high 32
    bits only) other parameters; rates 0 ignore the seed."""
    net, params, X, y, sw, running, rng = make_extras("binary_cross_entropy", dtype,
                                                      batch_norm=(False, True))
    order = rng.permutation(N).astype(np.int64)

    def run(seed, net=net):
        p, r = params.copy(), running.copy()
        opt, _ = extra_optimizers("adamw", net.n_params, dtype)
        loss = _engine.train_epoch(net, p, opt, X, y, sw, order, BATCH_X, dropout_seed=seed,
                                   running_stats=r)
        return p, r, loss

    p1, r1, l1 = run(5)
    p2, r2, l2 = run(5)
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(r1, r2)
    assert l1 == l2
    for other in (6, 5 + 2**32, 2**64 - 1):
        p3, r3, l3 = run(other)
        assert rel(p3, p1) > 1e-3 and l3 != l1, other
    no_dropout = _engine.Network(SIZES, list(net.hidden_activations), net.loss,
                                 alpha=net.alpha, l1=net.l1, batch_norm=[False, True],
                                 batch_norm_momentum=0.2, batch_norm_eps=1e-4,
                                 leaky_relu_slope=0.1)
    pa, ra, la = run(1, no_dropout)
    pb, rb, lb = run(2, no_dropout)
    np.testing.assert_array_equal(pa, pb)
    assert la == lb


@pytest.mark.parametrize("order_kind", ["in-place", "gathered"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_full_batch_epoch_is_one_step_of_loss_grad(dtype, order_kind):
    """One batch of every sample, in any order: the batch statistics are
    permutation invariant and the masks keyed by sample index, so the epoch
    is one SGD step along loss_grad's gradient (same seed), its loss sum N
    times loss_grad's loss, and the running statistics move once towards
    the statistics of all N samples; loss_grad leaves them alone."""
    net, params, X, y, sw, running, rng = make_extras("squared_error", dtype)
    seed = 31337
    loss, grad = _engine.loss_grad(net, params, X, y, sw, dropout_seed=seed)
    order = (np.arange(N) if order_kind == "in-place" else rng.permutation(N)).astype(np.int64)
    p, r = params.copy(), running.copy()
    opt = _engine.Optimizer("sgd", net.n_params, dtype, learning_rate=0.1, momentum=0.0)
    total = _engine.train_epoch(net, p, opt, X, y, sw, order, N, dropout_seed=seed,
                                running_stats=r)
    tol = {np.float64: 1e-12, np.float32: 2e-6}[dtype]
    assert abs(total - N * loss) <= tol * abs(N * loss), (total, N * loss)
    expected = params.astype(np.float64) - 0.1 * grad.astype(np.float64)
    assert rel(p, expected) < tol, f"params vs one loss_grad step: {rel(p, expected):.3e}"
    expected_r = running.copy()
    train_forward(net, params, X, dropout_seed=seed, running_stats=expected_r)
    assert rel(r, expected_r) < tol, f"running statistics: {rel(r, expected_r):.3e}"
    assert rel(r, running) > 1e-3  # they did move


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_dropout_masks_independent_of_batching(dtype, sparse):
    """With learning rate 0 nothing moves, so an epoch's loss sum is the sum
    of the per-sample losses under their masks (unweighted, no penalties,
    no batch norm, whose statistics do depend on the batch): the same for
    every batch size and order, and N times loss_grad's loss, in chunks of
    any size."""
    net, params, X, y, _, _, rng = make_extras("cross_entropy", dtype, batch_norm=(False, False),
                                               l1=0.0, alpha=0.0, weighted=False,
                                               dropout=(0.4, 0.6))
    if sparse:
        X = sp.csr_matrix((X * (rng.random(X.shape) < 0.5)).astype(dtype))
    seed = 2**50 + 3
    loss, grad = _engine.loss_grad(net, params, X, y, dropout_seed=seed)
    tol = {np.float64: 1e-12, np.float32: 2e-6}[dtype]
    for chunk in (1, 6, N - 1):
        l_c, g_c = _engine.loss_grad(net, params, X, y, chunk_rows=chunk, dropout_seed=seed)
        assert abs(l_c - loss) <= tol * abs(loss), f"chunk_rows={chunk}: {l_c!r} vs {loss!r}"
        assert rel(g_c, grad) < tol, f"chunk_rows={chunk}: gradient {rel(g_c, grad):.3e}"
    for batch in (1, 6, BATCH_X, N):
        for order in (np.arange(N), rng.permutation(N)):
            p = params.copy()
            opt = _engine.Optimizer("sgd", net.n_params, dtype, learning_rate=0.0,
                                    momentum=0.0)
            total = _engine.train_epoch(net, p, opt, X, y, None, order.astype(np.int64),
                                        batch, dropout_seed=seed)
            np.testing.assert_array_equal(p, params)
            assert abs(total - N * loss) <= tol * abs(N * loss), (batch, total, N * loss)
    # and the masks matter: another seed, another loss
    other, _ = _engine.loss_grad(net, params, X, y, dropout_seed=seed + 1)
    assert abs(other - loss) > 1e-4 * abs(loss)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_one_row_batches_keep_running_stats(dtype):
    """Batches of one row have no variance estimate: the running statistics
    stay exactly as they were (and training matches the reference)."""
    net, params, X, y, sw, running, rng = make_extras("poisson", dtype)
    order = rng.permutation(N)[:9].astype(np.int64)
    p, r = params.copy(), running.copy()
    opt = _engine.Optimizer("adam", net.n_params, dtype, learning_rate=0.01)
    _engine.train_epoch(net, p, opt, X, y, sw, order, 1, dropout_seed=4, running_stats=r)
    np.testing.assert_array_equal(r, running)
    q, r_ref = params.copy(), running.copy()
    ref = RefOptimizer("adam", net.n_params, dtype, learning_rate=0.01)
    ref_train_epoch(net, q, ref, X, y, sw, order, 1, dropout_seed=4, running_stats=r_ref)
    assert rel(p, q) < EXTRA_PARAM_RTOL[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_csr_input_with_regularizers_trains_like_dense(dtype):
    net, params, X, y, sw, running, rng = make_extras("binary_cross_entropy", dtype, seed=12)
    X = (X * (rng.random(X.shape) < 0.4)).astype(dtype)
    X[3] = 0  # an empty row
    Xs = sp.csr_matrix(X)
    order = rng.permutation(N).astype(np.int64)
    results = []
    for data in (X, Xs):
        p, r = params.copy(), running.copy()
        opt, _ = extra_optimizers("adamw", net.n_params, dtype)
        loss = _engine.train_epoch(net, p, opt, data, y, sw, order, BATCH_X, dropout_seed=8,
                                   running_stats=r)
        results.append((p, r, loss))
    (pd, rd, ld), (ps, rs, ls) = results
    tol = EXTRA_PARAM_RTOL[dtype] / 10
    assert rel(ps, pd) < tol and rel(rs, rd) < tol, (rel(ps, pd), rel(rs, rd))
    assert abs(ls - ld) < tol * abs(ld)


def test_predict_applies_no_dropout():
    """predict is the network without dropout (training-only), bit for bit."""
    net, params, X, *_ = make_extras("cross_entropy", np.float64, batch_norm=(False, False))
    plain = _engine.Network(SIZES, list(net.hidden_activations), net.loss,
                            alpha=net.alpha, leaky_relu_slope=0.1)
    np.testing.assert_array_equal(_engine.predict(net, params, X),
                                  _engine.predict(plain, params, X))
