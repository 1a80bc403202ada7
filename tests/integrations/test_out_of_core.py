"""Training from data that does not fit in memory (issue #7): ``partial_fit``
over the row chunks of an ``np.memmap``, dask-ml's ``Incremental`` over the
blocks of a Dask array read from disk, and ``GridSearchCV`` on the Dask joblib
backend, against a two-process ``dask.distributed.LocalCluster``.

Chunked training shuffles within each chunk only, so it is not the in-memory
model; what is checked is that it reaches the in-memory model's held-out score
(within 1%), and that where the visiting order is the same the model is
exactly the same (memmap chunks against their in-memory copies; Dask blocks,
trained in worker processes, against the same chunks trained here).
"""

import warnings

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification, make_friedman1
from sklearn.model_selection import GridSearchCV

from fastmlp import MLPClassifier, MLPRegressor

# The dask extra, which does not install everywhere fastmlp does (dask 2025.1
# needs NumPy 1.24): without it the module is skipped.
_NO_DASK = "the dask extra (dask, distributed, dask-ml) is not installed"
dask = pytest.importorskip("dask", reason=_NO_DASK)
da = pytest.importorskip("dask.array", reason=_NO_DASK)
Incremental = pytest.importorskip("dask_ml.wrappers", reason=_NO_DASK).Incremental
distributed = pytest.importorskip("distributed", reason=_NO_DASK)
Client, LocalCluster = distributed.Client, distributed.LocalCluster
get_task_stream = distributed.get_task_stream

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N_TRAIN, N_TEST, CHUNK = 30_000, 6_000, 5_000
EPOCHS = 15
# every epoch runs (no early stop), so fit and the chunked passes see the
# data equally often
HYPER = dict(hidden_layer_sizes=(32,), learning_rate_init=3e-3, max_iter=EPOCHS,
             tol=0.0, n_iter_no_change=10**9, random_state=0)


def _classification():
    X, y = make_classification(N_TRAIN + N_TEST, 20, n_informative=10, n_redundant=4,
                               flip_y=0.02, random_state=0)
    return X, y


def _regression():
    X, y = make_friedman1(N_TRAIN + N_TEST, n_features=10, noise=0.5, random_state=0)
    # standardized: uniform [0, 1) features, a target of mean 14.4 and sd 4.9
    return (X - 0.5) * np.sqrt(12), (y - 14.4) / 4.9


TASKS = {
    "classifier": (MLPClassifier, _classification),
    "regressor": (MLPRegressor, _regression),
}


def _to_memmap(path, array, dtype=None):
    """array written to a file, reopened read-only as an np.memmap."""
    dtype = array.dtype if dtype is None else dtype
    out = np.memmap(path, dtype=dtype, mode="w+", shape=array.shape)
    out[:] = array
    out.flush()
    del out
    return np.memmap(path, dtype=dtype, mode="r", shape=array.shape)


def _chunks(n_rows, chunk):
    return [slice(start, min(start + chunk, n_rows)) for start in range(0, n_rows, chunk)]


def _partial_fit_chunks(model, X, y, n_passes, chunk=CHUNK, copy=False):
    """n_passes of partial_fit over the row chunks of X, in order; with copy,
    each chunk is first copied into an ordinary in-memory array."""
    classes = np.unique(y) if isinstance(model, MLPClassifier) else None
    for _ in range(n_passes):
        for rows in _chunks(X.shape[0], chunk):
            X_chunk, y_chunk = X[rows], y[rows]
            if copy:
                X_chunk, y_chunk = np.array(X_chunk), np.array(y_chunk)
            if classes is None:
                model.partial_fit(X_chunk, y_chunk)
            else:
                model.partial_fit(X_chunk, y_chunk, classes=classes)
    return model


@pytest.fixture(scope="module")
def client():
    # light: two single-threaded worker processes (the models and data are
    # pickled to them and back, as on a real cluster), no dashboard
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


@pytest.mark.parametrize("task", TASKS)
def test_memmap_partial_fit_reaches_in_memory_score(task, tmp_path):
    Estimator, make_data = TASKS[task]
    X, y = make_data()
    X_train = _to_memmap(tmp_path / "X.dat", X[:N_TRAIN])
    y_train = _to_memmap(tmp_path / "y.dat", y[:N_TRAIN])
    X_test, y_test = X[N_TRAIN:], y[N_TRAIN:]

    chunked = _partial_fit_chunks(Estimator(**HYPER), X_train, y_train, EPOCHS)
    in_memory = Estimator(**HYPER).fit(X[:N_TRAIN], y[:N_TRAIN])

    assert chunked.t_ == in_memory.t_ == EPOCHS * N_TRAIN  # the same samples seen
    in_memory_score = in_memory.score(X_test, y_test)
    assert in_memory_score > (0.9 if task == "classifier" else 0.95)  # a trained model
    assert abs(chunked.score(X_test, y_test) - in_memory_score) <= 0.01


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("task", TASKS)
def test_memmap_chunks_give_the_model_of_in_memory_chunks(task, dtype, tmp_path):
    # a read-only memmap and its chunks' in-memory copies: the same model,
    # bit for bit (no copy, cast or alignment path that changes the result);
    # the last chunk is short, and the chunk size is not a multiple of the
    # batch size
    Estimator, make_data = TASKS[task]
    X, y = make_data()
    X, y = X[:7_000], y[:7_000]
    X_map = _to_memmap(tmp_path / "X.dat", X, dtype)
    y_map = _to_memmap(tmp_path / "y.dat", y)
    params = dict(HYPER, hidden_layer_sizes=(16,))

    from_map = _partial_fit_chunks(Estimator(**params), X_map, y_map, 2, chunk=3_000)
    from_copies = _partial_fit_chunks(Estimator(**params), X_map, y_map, 2, chunk=3_000,
                                      copy=True)

    assert from_map.coefs_[0].dtype == dtype
    for a, b in zip(from_map.coefs_ + from_map.intercepts_,
                    from_copies.coefs_ + from_copies.intercepts_):
        assert_array_equal(a, b)
    assert from_map.loss_curve_ == from_copies.loss_curve_
    assert_array_equal(from_map.predict(X_map), from_copies.predict(np.array(X_map)))


def _dask_arrays(tmp_path, X, y):
    """X and y as Dask arrays of CHUNK-row blocks, each block a file on disk
    that the worker computing it memory-maps."""
    for name, array in (("X", X), ("y", y)):
        chunks = (CHUNK,) + (-1,) * (array.ndim - 1)
        # written here, not by shipping the array to the cluster (older
        # dask warns about a local scheduler beside an active client)
        with dask.config.set(scheduler="synchronous"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Running on a single-machine scheduler")
            da.to_npy_stack(tmp_path / name, da.from_array(array, chunks=chunks))
    return (da.from_npy_stack(tmp_path / "X", mmap_mode="r"),
            da.from_npy_stack(tmp_path / "y", mmap_mode="r"))


@pytest.mark.parametrize("task", TASKS)
def test_dask_incremental_reaches_in_memory_score(task, client, tmp_path):
    Estimator, make_data = TASKS[task]
    X, y = make_data()
    X_dask, y_dask = _dask_arrays(tmp_path, X[:N_TRAIN], y[:N_TRAIN])
    assert X_dask.numblocks[0] == N_TRAIN // CHUNK

    model = Incremental(Estimator(**HYPER), shuffle_blocks=True, random_state=0)
    fit_kwargs = {"classes": np.unique(y)} if task == "classifier" else {}
    for _ in range(EPOCHS):
        model.partial_fit(X_dask, y_dask, **fit_kwargs)  # one pass over the blocks
    in_memory = Estimator(**HYPER).fit(X[:N_TRAIN], y[:N_TRAIN])

    assert model.estimator_.t_ == EPOCHS * N_TRAIN
    # held-out data in memory: dask-ml 2025.1's own r2 on Dask arrays fails
    # with dask >= 2025.2 (dask/dask-ml#1012), scikit-learn's is used here
    X_test, y_test = X[N_TRAIN:], y[N_TRAIN:]
    in_memory_score = in_memory.score(X_test, y_test)
    assert in_memory_score > (0.9 if task == "classifier" else 0.95)
    assert abs(model.score(X_test, y_test) - in_memory_score) <= 0.01
    # predictions on a Dask array stay lazy, block by block
    predicted = model.predict(X_dask[:2 * CHUNK])
    assert isinstance(predicted, da.Array)
    assert_array_equal(predicted.compute(), model.estimator_.predict(X[:2 * CHUNK]))


def test_dask_incremental_is_sequential_partial_fit(client, tmp_path):
    # blocks in order, trained in worker processes with the model pickled
    # between them: exactly the model of partial_fit over the same chunks here
    X, y = _classification()
    X, y = X[:4 * CHUNK], y[:4 * CHUNK]
    X_dask, y_dask = _dask_arrays(tmp_path, X, y)

    model = Incremental(MLPClassifier(**HYPER), shuffle_blocks=False)
    for _ in range(3):
        model.partial_fit(X_dask, y_dask, classes=np.unique(y))
    here = _partial_fit_chunks(MLPClassifier(**HYPER), X, y, 3)

    remote = model.estimator_
    for a, b in zip(remote.coefs_ + remote.intercepts_, here.coefs_ + here.intercepts_):
        assert_array_equal(a, b)
    assert remote.loss_curve_ == here.loss_curve_


def test_grid_search_on_the_dask_backend(client):
    X, y = _classification()
    X, y = X[:3_000], y[:3_000]
    grid = {"alpha": [1e-4, 1.0], "hidden_layer_sizes": [(4,), (32,)]}
    estimator = MLPClassifier(max_iter=30, random_state=0)

    default = GridSearchCV(estimator, grid, cv=3).fit(X, y)
    with get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        on_dask = GridSearchCV(estimator, grid, cv=3).fit(X, y)

    assert tasks.data, "no task ran on the cluster"
    assert on_dask.best_params_ == default.best_params_
    assert_allclose(on_dask.cv_results_["mean_test_score"],
                    default.cv_results_["mean_test_score"], rtol=1e-12)
    assert_array_equal(on_dask.best_estimator_.coefs_[0], default.best_estimator_.coefs_[0])
    # the search separates the candidates: the best is not a tie of all four
    assert np.ptp(default.cv_results_["mean_test_score"]) > 0.01
