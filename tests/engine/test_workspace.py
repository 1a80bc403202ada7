"""A caller's workspace (allocated once per fit) gives the same results as
the engine's own per-call allocation, whatever its size."""
import numpy as np
import pytest
import scipy.sparse as sp

from fastmlp import _engine


def _problem(dtype, dense=True):
    rng = np.random.default_rng(0)
    net = _engine.Network([7, 9, 6, 3], ["tanh", "relu"], "cross_entropy", alpha=1e-3)
    X = rng.standard_normal((53, 7)).astype(dtype)
    if not dense:
        X = sp.csr_matrix(np.where(np.abs(X) > 0.7, X, 0))
    y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 53)]
    params = (0.3 * rng.standard_normal(net.n_params)).astype(dtype)
    return net, X, y, params


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_workspace_matches_per_call_allocation(dtype, dense):
    net, X, y, params = _problem(dtype, dense)
    order = np.random.default_rng(1).permutation(53).astype(np.int64)
    results = []
    for workspace in (None, _engine.workspace(net, dtype, 8, dense),
                      np.zeros(16, np.uint8)):  # too small: the engine allocates
        p = params.copy()
        opt = _engine.Optimizer("adam", net.n_params, dtype)
        losses = [_engine.train_epoch(net, p, opt, X, y, None, order, 8, workspace=workspace)
                  for _ in range(3)]
        loss, grad = _engine.loss_grad(net, p, X, y, chunk_rows=8, workspace=workspace)
        out = _engine.predict(net, p, X, chunk_rows=8, workspace=workspace)
        results.append((p, losses, loss, grad, out))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_workspace_size_grows_with_rows_and_dense_input():
    net, _, _, _ = _problem(np.float64)
    small = _engine.workspace(net, np.float64, 8).nbytes
    assert _engine.workspace(net, np.float64, 64).nbytes > small
    assert _engine.workspace(net, np.float32, 8).nbytes < small
    # CSR input needs no buffer for gathered rows
    assert _engine.workspace(net, np.float64, 8, dense=False).nbytes < small


def test_workspace_rejects_bad_arguments():
    net, X, y, params = _problem(np.float64)
    with pytest.raises(ValueError):
        _engine.workspace(net, np.int32, 8)
    with pytest.raises(ValueError):
        _engine.workspace(net, np.float64, 0)
    with pytest.raises(ValueError, match="workspace"):
        _engine.predict(net, params, X, workspace=np.zeros(1000, np.float64))
    readonly = _engine.workspace(net, np.float64, 64)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="workspace"):
        _engine.loss_grad(net, params, X, y, workspace=readonly)
