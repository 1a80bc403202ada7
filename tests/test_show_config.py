"""fastmlp.show_config (the configuration for bug reports) and the one
version number that the package metadata, show_config and pickles share."""

import importlib.metadata
import os
import pickle

import numpy as np
import pytest
import scipy
import sklearn
import threadpoolctl

import fastmlp
from fastmlp import MLPClassifier, _engine
from fastmlp._show_config import config_info

SECTIONS = ["python", "dependencies", "engine", "blas", "cpu"]


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
