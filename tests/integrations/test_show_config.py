"""fastmlp.show_config (the configuration for bug reports) and the one
version number that the package metadata, show_config and pickles share."""

import importlib.metadata
import os
import pickle
import re

import numpy as np
import pytest
import scipy
import sklearn
import threadpoolctl

import fastmlp
from fastmlp import MLPClassifier, _engine
from fastmlp._show_config import config_info

SECTIONS = ["python", "dependencies", "engine", "blas", "cpu", "kernel_choice", "kernels",
            "kernel_plans"]


def test_config_info_sections_and_versions():
    info = config_info()
    assert list(info) == SECTIONS
    assert info["dependencies"] == {
        "fastmlp": fastmlp.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "threadpoolctl": threadpoolctl.__version__,
    }
    assert info["python"]["version"].count(".") == 2
    assert os.path.exists(info["python"]["executable"])


def test_config_info_engine_and_blas():
    info = config_info()
    assert info["engine"]["gemm_isa"] == _engine.gemm_isa()
    assert isinstance(info["engine"]["gemm_isa"], str) and info["engine"]["gemm_isa"]
    assert info["engine"]["blas_library"] == _engine.blas_library()
    assert os.path.exists(info["engine"]["blas_library"])
    # the engine's OpenBLAS (scipy's, loaded by importing fastmlp) is listed
    blas = info["blas"]
    assert blas and all(set(lib) >= {"internal_api", "version", "architecture",
                                     "num_threads", "filepath"} for lib in blas)
    openblas = [lib for lib in blas if lib["internal_api"] == "openblas"]
    assert openblas, blas
    assert all(lib["num_threads"] >= 1 and os.path.exists(lib["filepath"])
               for lib in openblas)
    assert all(lib["architecture"] for lib in openblas)  # the OpenBLAS core type


def test_config_info_cpu():
    cpu = config_info()["cpu"]
    assert cpu["logical_cpus"] == os.cpu_count()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            text = f.read()
        if "model name" in text:
            assert cpu["model"] and cpu["model"] in text


def test_show_config_prints_every_section(capsys):
    assert fastmlp.show_config() is None
    out = capsys.readouterr().out
    for section in SECTIONS:
        assert f"\n{section}:\n" in "\n" + out
    for value in (fastmlp.__version__, sklearn.__version__, _engine.gemm_isa(),
                  _engine.blas_library()):
        assert value in out
    assert "scikit-learn:" in out and "num_threads:" in out


def test_show_config_dicts_mode():
    info = fastmlp.show_config(mode="dicts")
    assert list(info) == SECTIONS
    assert info["dependencies"]["fastmlp"] == fastmlp.__version__
    with pytest.raises(ValueError, match="mode must be"):
        fastmlp.show_config(mode="json")


def test_a_new_section_is_one_dict_entry(monkeypatch, capsys):
    """How the per-shape kernel choices (or anything else) will be added."""
    from fastmlp import _show_config

    monkeypatch.setitem(_show_config._SECTIONS, "kernels",
                        lambda: {"(64, 32)": "small", "(4096, 512)": "blas"})
    assert config_info()["kernels"] == {"(64, 32)": "small", "(4096, 512)": "blas"}
    fastmlp.show_config()
    assert "kernels:\n  (64, 32):    small\n  (4096, 512): blas\n" in capsys.readouterr().out


def test_one_version_number():
    """The installed metadata, fastmlp.__version__ and the pickles agree."""
    try:
        installed = importlib.metadata.version("fastmlp")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        pytest.skip("fastmlp runs from a source tree without installed metadata")
    assert installed == fastmlp.__version__
    X = np.random.RandomState(0).randn(20, 3)
    clf = MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
    with pytest.warns(sklearn.exceptions.ConvergenceWarning):
        clf.fit(X, X[:, 0] > 0)
    assert clf.__getstate__()["_fastmlp_version"] == fastmlp.__version__
    assert pickle.loads(pickle.dumps(clf)).predict(X).shape == (20,)


def test_show_config_reports_the_kernel_chosen_for_each_product(tmp_path, monkeypatch, capsys):
    """After a fit, every product of its network is listed with the kernel
    timed faster on this machine, and the printout names the SIMD level,
    the BLAS's core type and the cache file."""
    from sklearn.datasets import make_classification

    from fastmlp import _kernel_choice

    monkeypatch.setenv("FASTMLP_KERNEL_CACHE", str(tmp_path / "kernels.json"))
    monkeypatch.delenv("FASTMLP_GEMM", raising=False)
    _kernel_choice.forget()
    X, y = make_classification(n_samples=120, n_features=7, random_state=0)
    MLPClassifier(hidden_layer_sizes=(9,), max_iter=1, batch_size=40).fit(X, y)
    info = config_info()
    assert info["kernel_choice"]["cache_file"] == str(tmp_path / "kernels.json")
    assert info["kernel_choice"]["machine"] == _kernel_choice.machine_signature()
    rows = {row["product"]: row for row in info["kernels"]}
    for product in ("forward 64x7x9", "weight_grad 64x7x9", "forward 64x9x1",
                    "weight_grad 64x9x1", "input_grad 64x9x1"):
        row = rows[f"float64 {product}"]
        assert row["source"] == "measured"
        other = "blas" if row["kernel"] == "own" else "own"
        assert row["kernel"] in ("blas", "own")
        # the chosen kernel was the faster (times shown rounded to 0.1 us)
        assert row[f"{row['kernel']}_us"] <= row[f"{other}_us"]
    # the network's plan: one letter per product (b or o), three per layer,
    # then the engine's threads (1 or n), timed in whole steps
    (plan,) = info["kernel_plans"]
    assert plan["network"] == "float64 train dense 64 7-9-1"
    assert re.fullmatch("[bo]{3}/[bo]{3}/[1n]", plan["plan"])
    assert plan["source"] == "tuned"
    assert plan["chosen_us"] > 0 and plan["seed_us"] > 0
    fastmlp.show_config()
    out = capsys.readouterr().out
    assert "kernels:" in out and "float64 forward 64x7x9" in out
    assert "kernel_plans:" in out and "float64 train dense 64 7-9-1" in out
    assert _engine.gemm_isa() in out
    architectures = {b["architecture"] for b in info["blas"] if b["architecture"]}
    assert all(a in out for a in architectures)
    _kernel_choice.forget()
