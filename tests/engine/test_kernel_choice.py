"""The kernel of each product is chosen by timing on this machine, and a
choice once made is kept: in the process and in the cache file, so fits are
bit-identical run after run and process after process."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_limits

from fastmlp import MLPClassifier, MLPRegressor, _engine, _kernel_choice

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N_PRODUCTS = len(_engine.PRODUCTS)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test with an empty cache file of its own and no choices in memory."""
    path = tmp_path / "kernels.json"
    monkeypatch.setenv("FASTMLP_KERNEL_CACHE", str(path))
    monkeypatch.delenv("FASTMLP_GEMM", raising=False)
    _kernel_choice.forget()
    yield path
    _kernel_choice.forget()


class FakeTimer:
    """time_product stand-in: 'own' wins exactly on the products in `own_wins`
    ((product, fan_in, fan_out) triples); records what it was asked."""

    def __init__(self, own_wins=()):
        self.own_wins = set(own_wins)
        self.calls = []

    def __call__(self, dtype, product, n_rows, fan_in, fan_out):
        self.calls.append((dtype, product, n_rows, fan_in, fan_out))
        own_faster = (product, fan_in, fan_out) in self.own_wins
        return {"blas": 2.0, "own": 1.0 if own_faster else 3.0}


def plan(sizes, timer, *, rows=200, training=True, dense=True, dtype=np.float64,
         kernel=None):
    return _kernel_choice.plan(sizes, dtype, rows, training=training, dense=dense,
                               kernel=kernel, time_product=timer)


def entry(plan_bytes, layer, product):
    return _engine.GEMM_KERNELS[plan_bytes[layer * N_PRODUCTS + _engine.PRODUCTS.index(product)]]


def test_the_faster_kernel_is_followed_per_product():
    timer = FakeTimer({("forward", 20, 32), ("input_grad", 32, 5)})
    got = plan((20, 32, 5), timer)
    assert len(got) == 2 * N_PRODUCTS
    assert entry(got, 0, "forward") == "own"
    assert entry(got, 0, "weight_grad") == "blas"
    assert entry(got, 1, "forward") == "blas"
    assert entry(got, 1, "weight_grad") == "blas"
    assert entry(got, 1, "input_grad") == "own"
    # the first layer's input gradient is never computed, so never timed;
    # 200 rows are timed as 256
    asked = sorted(c[1:] for c in timer.calls)
    assert asked == sorted([("forward", 256, 20, 32), ("weight_grad", 256, 20, 32),
                            ("forward", 256, 32, 5), ("weight_grad", 256, 32, 5),
                            ("input_grad", 256, 32, 5)])


def test_prediction_times_forward_products_only_and_csr_skips_the_first_layer():
    timer = FakeTimer()
    plan((6, 7, 3), timer, training=False, dense=False)
    assert [c[1:] for c in timer.calls] == [("forward", 256, 7, 3)]


def test_a_choice_is_timed_once_then_kept_in_the_process(private_cache):
    timer = FakeTimer({("forward", 20, 32)})
    first = plan((20, 32, 5), timer)
    n_calls = len(timer.calls)
    # other row counts in the same power-of-two bucket, another network
    # sharing a layer: nothing new to time for the shared products
    assert plan((20, 32, 5), timer, rows=129) == first
    plan((20, 32, 9), timer)
    assert len(timer.calls) == n_calls + 3  # the new layer 32 -> 9 only


def test_choices_are_written_to_the_cache_file_and_read_back(private_cache):
    timer = FakeTimer({("forward", 20, 32), ("weight_grad", 32, 5)})
    first = plan((20, 32, 5), timer)
    data = json.loads(private_cache.read_text())
    (machine, entries), = data["machines"].items()
    assert machine == _kernel_choice.machine_signature()
    assert entries["float64 forward 256x20x32"] == "own"
    assert entries["float64 weight_grad 256x32x5"] == "own"
    assert entries["float64 forward 256x32x5"] == "blas"
    # a new process: nothing in memory, the file answers; a timer that
    # would now choose differently is not asked
    _kernel_choice.forget()
    contrary = FakeTimer({("forward", 32, 5)})
    assert plan((20, 32, 5), contrary) == first
    assert contrary.calls == []
    sources = {c["source"] for c in _kernel_choice.report()["choices"]}
    assert sources == {"cache file"}


def test_the_cache_keeps_machine_configurations_apart(private_cache):
    """The BLAS's thread count is part of the machine's signature: a limit
    of one thread makes (and stores) choices of its own."""
    timer = FakeTimer()
    plan((4, 3, 2), timer)
    with threadpool_limits(1):
        one_thread = _kernel_choice.machine_signature()
        plan((4, 3, 2), timer)
    assert "1 threads" in one_thread
    machines = json.loads(private_cache.read_text())["machines"]
    assert set(machines) == {_kernel_choice.machine_signature(), one_thread}


def test_forced_kernels_time_nothing(monkeypatch):
    timer = FakeTimer()
    assert plan((3, 4, 2), timer, kernel="own") == bytes([1]) * (2 * N_PRODUCTS)
    monkeypatch.setenv("FASTMLP_GEMM", "blas")
    assert plan((3, 4, 2), timer) == bytes(2 * N_PRODUCTS)
    assert timer.calls == []
    monkeypatch.setenv("FASTMLP_GEMM", "fastest")
    with pytest.raises(ValueError, match="FASTMLP_GEMM must be 'blas' or 'own'"):
        plan((3, 4, 2), timer)


def test_without_a_cache_file_choices_stay_in_memory(monkeypatch, tmp_path):
    monkeypatch.setenv("FASTMLP_KERNEL_CACHE", "off")
    plan((3, 4, 2), FakeTimer())
    assert _kernel_choice.report()["cache_file"] is None
    assert list(tmp_path.iterdir()) == []


def test_an_unusable_cache_file_is_reported_not_fatal(monkeypatch, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("FASTMLP_KERNEL_CACHE", str(blocker / "kernels.json"))
    got = plan((3, 4, 2), FakeTimer({("forward", 3, 4)}))
    assert entry(got, 0, "forward") == "own"
    problem = _kernel_choice.report()["cache_problem"]
    assert problem is not None and str(blocker) in problem


def test_a_damaged_cache_file_is_replaced(private_cache):
    private_cache.write_text("{not json")
    plan((3, 4, 2), FakeTimer())
    assert json.loads(private_cache.read_text())["format"] == 1


def test_products_too_large_to_time_go_to_the_blas():
    timer = FakeTimer({("forward", 100_000, 1000)})
    got = plan((100_000, 1000, 2), timer, rows=4096)
    assert entry(got, 0, "forward") == "blas"
    assert ("forward", 4096, 100_000, 1000) not in [c[1:] for c in timer.calls]
    reasons = {(c["product"], c["fan_in"]): c["source"]
               for c in _kernel_choice.report()["choices"]}
    assert reasons[("forward", 100_000)] == "too large to time"


def test_time_product_times_both_kernels():
    seconds = _engine.time_product(np.float32, "weight_grad", 64, 30, 20)
    assert set(seconds) == {"blas", "own"}
    assert all(0 < s < 1 for s in seconds.values())
    with pytest.raises(ValueError, match="unknown product"):
        _engine.time_product(np.float32, "backward", 64, 30, 20)
    with pytest.raises(ValueError, match="n_rows must be an integer"):
        _engine.time_product(np.float32, "forward", 0, 30, 20)


def test_network_rejects_an_unknown_kernel():
    with pytest.raises(ValueError, match="gemm must be None, 'blas' or 'own'"):
        _engine.Network((3, 4, 2), ["relu"], "cross_entropy", gemm="mkl")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_plan_trains_the_same_model_up_to_rounding(dtype):
    """Both kernels compute the same products: forcing either changes only
    the rounding."""
    X, y = make_classification(n_samples=300, n_features=30, random_state=0)
    X = X.astype(dtype)
    models = {}
    for kernel in ("blas", "own"):
        os.environ["FASTMLP_GEMM"] = kernel
        try:
            models[kernel] = MLPClassifier((40, 20), max_iter=3, random_state=0).fit(X, y)
        finally:
            del os.environ["FASTMLP_GEMM"]
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for a, b in zip(models["blas"].coefs_, models["own"].coefs_):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def _fit_and_digest(estimator_class, X, y):
    est = estimator_class(hidden_layer_sizes=(64, 32), max_iter=3, batch_size=100,
                          random_state=0).fit(X, y)
    return np.concatenate([c.ravel() for c in est.coefs_ + est.intercepts_])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_two_fits_in_a_row_are_bit_identical(dtype):
    X, y = make_classification(n_samples=500, n_features=40, random_state=1)
    X = X.astype(dtype)
    first = _fit_and_digest(MLPClassifier, X, y)
    second = _fit_and_digest(MLPClassifier, X, y)
    np.testing.assert_array_equal(first, second)
    Xs = sp.csr_matrix(np.where(np.abs(X) > 1, X, 0))
    np.testing.assert_array_equal(_fit_and_digest(MLPRegressor, Xs, X[:, 0]),
                                  _fit_and_digest(MLPRegressor, Xs, X[:, 0]))


_CHILD = textwrap.dedent("""
    import sys, warnings
    if sys.argv[2] == "scipy-first":  # the BLAS libraries load in another order
        import scipy.linalg
    import numpy as np
    from sklearn.datasets import make_classification
    from fastmlp import MLPClassifier
    warnings.simplefilter("ignore")
    X, y = make_classification(n_samples=500, n_features=40, random_state=1)
    X = X.astype(sys.argv[1])
    est = MLPClassifier((64, 32), max_iter=3, batch_size=100, random_state=0).fit(X, y)
    proba = est.predict_proba(X)
    sys.stdout.write(np.concatenate([c.ravel() for c in est.coefs_] + [proba.ravel()])
                     .astype(np.float64).tobytes().hex())
""")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_two_processes_train_bit_identical_models(private_cache, dtype):
    """The first process times and stores its choices; the second reads
    them, so both follow the same plan and agree to the last bit (whatever
    order the two processes loaded their BLAS libraries in)."""
    env = dict(os.environ, FASTMLP_KERNEL_CACHE=str(private_cache))
    env.pop("FASTMLP_GEMM", None)
    outputs = [subprocess.run([sys.executable, "-c", _CHILD, dtype, order], env=env,
                              capture_output=True, text=True, check=True, timeout=300).stdout
               for order in ("numpy-first", "scipy-first")]
    assert outputs[0] and outputs[0] == outputs[1]
    stored = json.loads(private_cache.read_text())["machines"]
    # one machine: the second process found the first's choices
    assert len(stored) == 1
    assert any(key.startswith(f"{dtype} ") for entries in stored.values() for key in entries)


def test_the_report_lists_the_choices_made():
    X, y = make_classification(n_samples=200, n_features=12, random_state=0)
    MLPClassifier((16,), max_iter=2, random_state=0).fit(X, y)
    report = _kernel_choice.report()
    assert report["machine"] == _kernel_choice.machine_signature()
    assert report["cache_file"] == os.environ["FASTMLP_KERNEL_CACHE"]
    shapes = {(c["product"], c["fan_in"], c["fan_out"]) for c in report["choices"]}
    assert {("forward", 12, 16), ("weight_grad", 12, 16), ("forward", 16, 1),
            ("input_grad", 16, 1)} <= shapes
    for choice in report["choices"]:
        assert choice["kernel"] in ("blas", "own")
        assert choice["source"] == "measured"
        faster = min(choice["seconds"], key=choice["seconds"].get)
        assert choice["kernel"] == faster
