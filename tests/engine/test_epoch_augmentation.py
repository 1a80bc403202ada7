"""`train_epoch`'s batch augmentation (mixup, input noise) against training
without it on the batches augmented in NumPy: the engine blends each row
with its partner (inputs, targets, sample weights) and adds the hashed
Gaussian noise of (seed, sample, feature); the same for CSR input (densified
batches); the noise's distribution; the argument checks."""
import numpy as np
import pytest
import scipy.sparse as sp

from _engine_ref import _engine, gaussian_noise, init_params, make_problem

N, F, O = 40, 6, 3
SIZES = (F, 5, O)
BATCH = 7  # the last batch is partial


def make(dtype, loss="cross_entropy", seed=0):
    rng = np.random.default_rng(seed)
    net = _engine.Network(SIZES, ["tanh"], loss)
    X, y = make_problem(loss, N, F, O, dtype, rng)
    params = init_params(net, dtype, rng, scale=0.4)
    sw = rng.uniform(0.1, 2.0, N).astype(dtype)
    return net, params, X, y, sw, rng


def epoch(net, params, X, y, sw, order, **augmentation):
    params = params.copy()
    opt = _engine.Optimizer("adam", net.n_params, params.dtype, learning_rate=0.01)
    loss = _engine.train_epoch(net, params, opt, X, y, sw, order, BATCH, **augmentation)
    return params, loss


def augmented(X, y, sw, order, lambdas, partner, noise, seed):
    """The batches the engine trains on, in order: row p blended with the
    row at position partner[p] of its batch, then the noise."""
    X, y, sw = (np.asarray(a, np.float64) for a in (X, y, sw))
    pos = np.arange(order.size)
    start = pos // BATCH * BATCH
    lam = lambdas[pos // BATCH] if lambdas is not None else np.ones(order.size)
    other = order[start + partner] if partner is not None else order
    Xa = lam[:, None] * X[order] + (1 - lam[:, None]) * X[other]
    ya = lam[:, None] * y[order] + (1 - lam[:, None]) * y[other]
    swa = lam * sw[order] + (1 - lam) * sw[other]
    if noise is not None:
        Xa = Xa + noise * gaussian_noise(seed, order, X.shape[1])
    return Xa, ya, swa


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("what", ["mixup", "noise", "both"])
@pytest.mark.parametrize("sparse", [False, True])
def test_augmented_epoch_is_training_on_augmented_batches(dtype, what, sparse):
    net, params, X, y, sw, rng = make(dtype)
    order = rng.permutation(N).astype(np.int64)
    n_batches = -(-N // BATCH)
    lambdas = rng.beta(0.4, 0.4, n_batches) if what != "noise" else None
    sizes = np.minimum(BATCH, N - np.arange(N) // BATCH * BATCH)
    partner = (rng.integers(0, 1 << 30, N) % sizes).astype(np.int64) if lambdas is not None \
        else None
    noise = rng.uniform(0, 0.5, F) if what != "mixup" else None
    if noise is not None:
        noise[2] = 0.0  # a feature without noise
    kwargs = {}
    if lambdas is not None:
        kwargs.update(mixup_lambda=lambdas, mixup_partner=partner)
    if noise is not None:
        kwargs.update(input_noise=noise, noise_seed=12345)
    got, got_loss = epoch(net, params, sp.csr_matrix(X) if sparse else X, y, sw, order,
                          **kwargs)
    Xa, ya, swa = augmented(X, y, sw, order, lambdas, partner, noise, 12345)
    want, want_loss = epoch(net, params, Xa.astype(dtype), ya.astype(dtype),
                            swa.astype(dtype), np.arange(N, dtype=np.int64))
    tol = 1e-10 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(got_loss, want_loss, rtol=tol)
    plain, _ = epoch(net, params, X, y, sw, order)
    assert not np.allclose(got, plain, rtol=tol, atol=tol)  # it did augment


def test_noise_is_standard_normal_times_its_scale():
    """One feature's noise 0, the others N(0, std^2): recovered from one SGD
    step from zero weights on a zero input (the weight gradient is the
    noisy input itself)."""
    n, f = 400, 4
    net = _engine.Network((f, 1), [], "squared_error")
    X = np.zeros((n, f))
    y = -np.ones((n, 1))
    std = np.array([0.0, 1.0, 3.0, 0.5])
    drawn = np.empty((n, f))
    for i in range(n):
        params = np.zeros(net.n_params)
        opt = _engine.Optimizer("sgd", net.n_params, np.float64, learning_rate=1.0,
                                momentum=0.0, nesterov=False)
        _engine.train_epoch(net, params, opt, X, y, None, np.array([i], np.int64), 1,
                            input_noise=std, noise_seed=7)
        drawn[i] = -params[:f]
    assert np.all(drawn[:, 0] == 0)
    np.testing.assert_allclose(drawn[:, 1:] / std[1:], gaussian_noise(7, np.arange(n), f)[:, 1:],
                               rtol=1e-12, atol=1e-12)
    z = (drawn[:, 1:] / std[1:]).ravel()
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.06


def test_augmentation_argument_checks():
    net, params, X, y, sw, rng = make(np.float64)
    order = np.arange(N, dtype=np.int64)
    good = dict(mixup_lambda=np.full(6, 0.5), mixup_partner=np.zeros(N, np.int64))
    with pytest.raises(ValueError, match="go together"):
        epoch(net, params, X, y, sw, order, mixup_lambda=good["mixup_lambda"])
    with pytest.raises(ValueError, match="shape"):
        epoch(net, params, X, y, sw, order, mixup_lambda=np.full(5, 0.5),
              mixup_partner=good["mixup_partner"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        epoch(net, params, X, y, sw, order, mixup_lambda=np.full(6, 1.5),
              mixup_partner=good["mixup_partner"])
    with pytest.raises(ValueError, match="within each batch"):
        epoch(net, params, X, y, sw, order, mixup_lambda=good["mixup_lambda"],
              mixup_partner=np.full(N, 6, np.int64))  # the last batch has 5 rows
    with pytest.raises(ValueError, match="input_noise"):
        epoch(net, params, X, y, sw, order, input_noise=-1.0)
    with pytest.raises(ValueError):
        epoch(net, params, X, y, sw, order, input_noise=np.ones(F + 1))
    # identity blends (lambda 1) leave the epoch as it is
    a, _ = epoch(net, params, X, y, sw, order, mixup_lambda=np.ones(6),
                 mixup_partner=good["mixup_partner"])
    b, _ = epoch(net, params, X, y, sw, order)
    np.testing.assert_array_equal(a, b)
