"""Estimators pickled by fastmlp 0.1.0 (fixtures/release_0_1_0.pkl,
written by fixtures/make_pickles.py from that release's code) load and
predict as they did then."""
import pathlib
import pickle

import numpy as np
import pytest

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "release_0_1_0.pkl"
# The fixture was pickled under NumPy 2, whose arrays pickle as numpy._core;
# NumPy 1.x cannot read them (a NumPy limit, not fastmlp's).
if int(np.__version__.split(".")[0]) < 2:
    pytest.skip("the 0.1.0 fixture was pickled with NumPy 2, which NumPy "
                f"{np.__version__} cannot unpickle", allow_module_level=True)
RELEASE = pickle.loads(FIXTURE.read_bytes())


@pytest.mark.parametrize("name", sorted(RELEASE["models"]))
def test_release_pickle_loads_and_predicts_the_same(name):
    model = pickle.loads(RELEASE["models"][name])
    if name == "unfitted":
        assert not hasattr(model, "coefs_")
        assert model.get_params()["alpha"] == 0.3
        return
    X = RELEASE["X"].astype(np.float32) if name.endswith("float32") else RELEASE["X"]
    np.testing.assert_array_equal(model.predict(X), RELEASE["predictions"][name])
    if hasattr(model, "predict_proba"):
        expected = RELEASE["predictions"][name + ".proba"]
        np.testing.assert_allclose(model.predict_proba(X), expected, rtol=1e-12, atol=0)
    # and it travels on: pickled again by this version, then trained further
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X), RELEASE["predictions"][name])
    if model.solver != "lbfgs" and not model.early_stopping:
        y = again.predict(X)
        again.partial_fit(X, y)
        assert again.n_iter_ >= 1
