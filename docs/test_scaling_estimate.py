"""docs/scaling_estimate.py: the arithmetic behind the scaling plan's tables.

Run by CI's documentation step (``python -m pytest docs``), beside the docs
build; the package's own suite (tests/) stays self-contained, so it can run
against an installed wheel or sdist without the repository's docs/."""
import importlib.util
import math
import os

import numpy as np
import pytest

from fastmlp import MLPClassifier

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load():
    spec = importlib.util.spec_from_file_location(
        "scaling_estimate", os.path.join(ROOT, "docs", "scaling_estimate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scaling = _load()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("hidden", [(7,), (5, 3), (4, 4, 4)])
def test_n_parameters_counts_a_fitted_network(hidden):
    rng = np.random.RandomState(0)
    X, y = rng.rand(20, 6), rng.randint(0, 3, 20)
    clf = MLPClassifier(hidden_layer_sizes=hidden, max_iter=1).fit(X, y)
    fitted = sum(w.size for w in clf.coefs_) + sum(b.size for b in clf.intercepts_)
    assert scaling.n_parameters([6, *hidden, 3]) == fitted


def test_ring_allreduce_time():
    # one node communicates nothing
    assert scaling.allreduce_seconds(1000, 4, 1, 1e9, 1e-5) == 0.0
    # two nodes: 2 messages, each node sends 2 * (1/2) * P * itemsize bytes
    assert math.isclose(scaling.allreduce_seconds(1000, 4, 2, 1e9, 1e-5),
                        2 * 1e-5 + 4000 / 1e9)
    # many nodes: the bytes approach 2 * P * itemsize, the messages 2(n-1)
    assert math.isclose(scaling.allreduce_seconds(1000, 8, 100, 1e9, 0.0),
                        2 * 99 / 100 * 8000 / 1e9)


def test_estimate_from_the_committed_results():
    results = scaling.load_results()
    rows = scaling.workload_rows(results, "float32")
    assert {r["workload"] for r in rows} == {r["workload"] for r in results["fit"]}
    wide = next(r for r in rows if r["workload"] == "wide")
    assert wide["n_params"] == 784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10
    assert wide["steps"] == math.ceil(wide["n_samples"] / wide["batch"])
    one = scaling.estimate(wide, 1, 10, 25e-6)
    assert one["comm_same_s"] == 0 and math.isclose(one["speedup_same"], 1.0)
    # keeping each worker's batch means fewer all-reduces: never slower
    many = scaling.estimate(wide, 8, 10, 25e-6)
    assert many["speedup_large"] > many["speedup_same"] > 0
    text = scaling.render_rst(results)
    for r in rows:
        assert r["workload"] in text


def test_load_results_rejects_a_file_without_fits(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text('{"meta": {}}')
    with pytest.raises(ValueError, match="no 'fit' section"):
        scaling.load_results(str(path))
