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
         kernel=None, time_plans=None):
    return _kernel_choice.plan(sizes, dtype, rows, training=training, dense=dense,
                               kernel=kernel, time_product=timer, time_plans=time_plans)


def entry(plan_bytes, layer, product):
    return _engine.GEMM_KERNELS[plan_bytes[layer * N_PRODUCTS + _engine.PRODUCTS.index(product)]]


def test_the_faster_kernel_is_followed_per_product():
    timer = FakeTimer({("forward", 20, 32), ("input_grad", 32, 5)})
    got = plan((20, 32, 5), timer)
    assert len(got) == 2 * N_PRODUCTS + 1  # and the engine's threads
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
    (machine, stored), = data["machines"].items()
    assert machine == _kernel_choice.machine_signature()
    products = stored["products"]
    assert products["float64 forward 256x20x32"] == {"kernel": "own",
                                                     "seconds": {"blas": 2.0, "own": 1.0}}
    assert products["float64 weight_grad 256x32x5"]["kernel"] == "own"
    assert products["float64 forward 256x32x5"]["kernel"] == "blas"
    assert stored["networks"] == {"float64 train dense 256 20-32-5": "obb/bob/n"}
    # a new process: nothing in memory, the file answers; a timer that
    # would now choose differently is not asked
    _kernel_choice.forget()
    contrary = FakeTimer({("forward", 32, 5)})
    assert plan((20, 32, 5), contrary) == first
    assert contrary.calls == []
    sources = {p["source"] for p in _kernel_choice.report()["plans"]}
    assert sources == {"cache file"}
    # another network sharing a layer: the shared products come from the file
    plan((20, 32, 7), contrary)
    sources = {(c["fan_in"], c["fan_out"]): c["source"]
               for c in _kernel_choice.report()["choices"]}
    assert sources == {(20, 32): "cache file", (32, 7): "measured"}


class FakeSteps:
    """time_plans stand-in: a step with `fastest` takes 1 s, any other plan
    2 s; records the plans it was asked to time and whether in long samples."""

    def __init__(self, fastest=None, error=None):
        self.fastest = fastest
        self.error = error
        self.asked = []
        self.long = []

    def __call__(self, plans, long=False):
        self.asked.append(list(plans))
        self.long.append(long)
        if self.error is not None:
            raise self.error
        return [1.0 if p == self.fastest else 2.0 for p in plans]


def as_plan(text):
    """'bob/oob/n' -> plan bytes: a kernel per product, then the threads
    (1: one, n: the network's)."""
    *layers, threads = text.split("/")
    kernels = [_engine.GEMM_KERNELS.index({"b": "blas", "o": "own"}[c]) for c in "".join(layers)]
    return bytes(kernels + ["1n".index(threads)])


@pytest.fixture
def no_cache_file(monkeypatch):
    """Choices in memory only: forget() starts from scratch."""
    monkeypatch.setenv("FASTMLP_KERNEL_CACHE", "off")


def test_close_calls_are_settled_by_timing_whole_steps(no_cache_file):
    """Products timed alone within CONTESTED of each other are tried both
    ways in whole steps, and the step that ran fastest decides, though
    each product alone preferred the other kernel."""
    timer = FakeTimer({("forward", 20, 32), ("weight_grad", 32, 5)})  # 1 vs 2: close calls
    seed = plan((20, 32, 5), timer)
    assert seed == as_plan("obb/bob/n")
    _kernel_choice.forget()
    steps = FakeSteps(fastest=as_plan("bbb/bbb/1"))
    got = plan((20, 32, 5), timer, time_plans=steps)
    assert _kernel_choice.plan_text(got) == "bbb/bbb/1"
    # the kernels on one thread, in short samples: the seed first, then
    # k = 0 .. all of the contested shapes to the BLAS, largest first
    assert steps.long == [False, False, True]
    assert steps.asked[0][0] == as_plan("obb/bob/1")
    assert as_plan("oob/ooo/1") in steps.asked[0] and got in steps.asked[0]
    # the threads in long samples, with the engine's kernel on every close
    # call (prediction's parallel chunks), against the seed as it was
    assert steps.asked[2] == [got, as_plan("bbb/bbb/n"), as_plan("oob/ooo/n"), seed]
    (tuned,) = _kernel_choice.report()["plans"]
    assert tuned["source"] == "tuned" and tuned["plan"] == "bbb/bbb/1"
    assert tuned["seconds"] == {"seed": 2.0, "chosen": 1.0}


def test_single_changes_of_the_best_plan_are_tried():
    """The second round changes one shape's kernel of the best plan so far:
    a plan no threshold gives is found."""
    timer = FakeTimer({("forward", 20, 32), ("weight_grad", 20, 32), ("forward", 32, 5),
                       ("weight_grad", 32, 5), ("input_grad", 32, 5)})
    target = as_plan("oob/boo/1")
    steps = FakeSteps(fastest=target)
    assert plan((20, 32, 5), timer, time_plans=steps) == target
    assert target not in steps.asked[0] and target in steps.asked[1]
    # each round times the best so far again, and only plans not timed yet
    assert steps.asked[1][0] == as_plan("oob/ooo/1")
    assert not set(steps.asked[0]) & set(steps.asked[1][1:])


def test_the_threads_are_timed_in_long_samples():
    """The kernels are compared on one engine thread; the network's threads
    only in the last round, in long samples."""
    timer = FakeTimer({("forward", 20, 32)})
    steps = FakeSteps(fastest=as_plan("obb/bbb/n"))
    assert plan((20, 32, 5), timer, time_plans=steps) == as_plan("obb/bbb/n")
    short_rounds = [plans for plans, long in zip(steps.asked, steps.long) if not long]
    assert short_rounds and all(p[-1] == _kernel_choice.THREADS.index("1")
                                for plans in short_rounds for p in plans)
    assert steps.long[-1] and as_plan("obb/bbb/n") in steps.asked[-1]


def test_one_chunk_predictions_time_no_threads(no_cache_file):
    """A prediction of fewer rows than a chunk runs on one thread whatever
    the plan says: only the kernels are timed."""
    timer = FakeTimer({("forward", 20, 32)})
    steps = FakeSteps(fastest=as_plan("bbb/bbb/1"))
    steps.threads_matter = False
    assert plan((20, 32, 5), timer, training=False, time_plans=steps) == as_plan("bbb/bbb/n")
    assert steps.long and not any(steps.long)  # no long samples
    net = _engine.Network((20, 32, 5), ["relu"], "cross_entropy", n_threads=2)
    assert not _kernel_choice.StepTimer(net, np.float64, 64, False).threads_matter
    assert _kernel_choice.StepTimer(net, np.float64, _engine.DEFAULT_CHUNK_ROWS,
                                    False).threads_matter
    assert _kernel_choice.StepTimer(net, np.float64, 64, True).threads_matter


def test_clear_calls_are_not_retimed(no_cache_file):
    """A product one kernel wins by more than CONTESTED alone keeps that
    kernel in every plan timed; with no close call only the threads are."""
    class Lopsided(FakeTimer):
        def __call__(self, dtype, product, n_rows, fan_in, fan_out):
            seconds = super().__call__(dtype, product, n_rows, fan_in, fan_out)
            if (product, fan_in) == ("forward", 20):
                seconds["own"] = seconds["blas"] / (2 * _kernel_choice.CONTESTED)
            return seconds

    steps = FakeSteps()
    plan((20, 32, 5), Lopsided(), time_plans=steps)
    assert len(steps.asked) == 3 and all(entry(p, 0, "forward") == "own"
                                         for round_ in steps.asked for p in round_)
    _kernel_choice.forget()

    class AllClear(FakeTimer):
        def __call__(self, *args):
            return {"blas": 10.0, "own": 1.0}

    steps = FakeSteps(fastest=as_plan("oob/ooo/1"))
    assert plan((20, 32, 5), AllClear(), time_plans=steps) == as_plan("oob/ooo/1")
    assert steps.asked == [[as_plan("oob/ooo/1"), as_plan("oob/ooo/n")]]
    assert steps.long == [True]


def test_a_tuned_plan_is_kept_in_the_cache_file(private_cache):
    timer = FakeTimer({("forward", 20, 32)})
    got = plan((20, 32, 5), timer, time_plans=FakeSteps(fastest=as_plan("bbb/bbb/1")))
    networks = json.loads(private_cache.read_text())["machines"][
        _kernel_choice.machine_signature()]["networks"]
    assert networks == {"float64 train dense 256 20-32-5": "bbb/bbb/1"}
    _kernel_choice.forget()
    steps = FakeSteps(fastest=as_plan("oob/ooo/1"))
    assert plan((20, 32, 5), timer, time_plans=steps) == got
    assert steps.asked == []
    # a damaged entry is timed again
    private_cache.write_text(private_cache.read_text().replace('"bbb/bbb/1"', '"bxb/bbb/1"'))
    _kernel_choice.forget()
    assert plan((20, 32, 5), timer, time_plans=steps) == as_plan("oob/ooo/1")


def test_the_seed_is_kept_when_steps_cannot_be_timed(no_cache_file):
    timer = FakeTimer({("forward", 20, 32)})
    seed = plan((20, 32, 5), timer)
    _kernel_choice.forget()
    assert plan((20, 32, 5), timer, time_plans=FakeSteps(error=MemoryError())) == seed
    assert _kernel_choice.report()["plans"][0]["source"].startswith("seed (step timing failed")


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_timer_runs_the_real_network(training, dtype, dense):
    """StepTimer times the engine's own calls on synthetic data: a positive
    time for each plan, and the plan is really followed (a plan of the
    wrong length is refused by the engine)."""
    net = _engine.Network((12, 16, 8, 3), ["relu", "tanh"], "cross_entropy", n_threads=2,
                          dropout=[0.2, 0.0] if training else None)
    steps = _kernel_choice.StepTimer(net, dtype, 64, training, dense)
    plans = [as_plan("bbb/bbb/bbb/n"), as_plan("ooo/ooo/ooo/n"), as_plan("obo/bob/oob/1")]
    for long in (False, True):
        seconds = steps(plans, long=long)
        assert len(seconds) == 3 and all(0 < s < 1 for s in seconds)
    with pytest.raises(ValueError, match="a plan of 3 entries for 3 layers"):
        steps([bytes(3)])


def test_steps_too_large_or_too_slow_are_not_timed(no_cache_file, monkeypatch):
    """A network whose steps would take too much memory or time keeps its
    seed plan, and says why."""
    timer = FakeTimer({("forward", 20, 32)})
    net = _engine.Network((20, 32, 5), ["relu"], "cross_entropy")
    monkeypatch.setattr(_kernel_choice.StepTimer, "_BYTES_MAX", 1000)
    got = plan((20, 32, 5), timer, time_plans=_kernel_choice.StepTimer(net, np.float64, 256,
                                                                        True))
    assert got == as_plan("obb/bbb/n")
    assert _kernel_choice.report()["plans"][0]["source"] == "seed (steps too large to time)"
    monkeypatch.undo()
    _kernel_choice.forget()
    monkeypatch.setenv("FASTMLP_KERNEL_CACHE", "off")
    monkeypatch.setattr(_kernel_choice.StepTimer, "MAX_STEP_SECONDS", 0.0)
    plan((20, 32, 5), timer, time_plans=_kernel_choice.StepTimer(net, np.float64, 256, True))
    assert _kernel_choice.report()["plans"][0]["source"].startswith("seed (steps too slow")


def test_step_timer_times_a_batch_norm_network_in_training_only():
    net = _engine.Network((6, 5, 2), ["relu"], "squared_error", batch_norm=[True])
    assert _kernel_choice.StepTimer(net, np.float64, 32, True)([as_plan("bbb/bbb/n")])[0] > 0
    with pytest.raises(ValueError, match="without batch norm"):
        _kernel_choice.StepTimer(net, np.float64, 32, False)([as_plan("bbb/bbb/n")])


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
    assert plan((3, 4, 2), timer, kernel="own") == as_plan("ooo/ooo/n")
    monkeypatch.setenv("FASTMLP_GEMM", "blas")
    assert plan((3, 4, 2), timer) == as_plan("bbb/bbb/n")
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
    assert json.loads(private_cache.read_text())["format"] == _kernel_choice._CACHE_FORMAT


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
    (entries,) = stored.values()
    assert any(key.startswith(f"{dtype} train dense 128 40-64-32-1") for key in entries["networks"])
    assert any(key.startswith(f"{dtype} ") for key in entries["products"])


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
    (trained,) = [p for p in report["plans"] if p["call"] == "train"]
    assert trained["network"] == "float64 train dense 256 12-16-1"
    assert trained["source"] == "tuned"
    assert len(trained["plan"]) == len("xxx/xxx/x")
