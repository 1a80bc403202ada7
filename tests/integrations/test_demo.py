"""``python -m fastmlp``, the README's first command: it runs in a fresh
interpreter and reports what the README says it reports, with numbers that
agree with a fit done here."""
import re
import subprocess
import sys
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier


def test_python_m_fastmlp_runs_the_demo(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "fastmlp", "--repeats", "1", "--max-iter", "3"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "digits: 1347 training and 450 test samples, 64 features, 10 classes" in out
    accuracy = {name: float(value) for name, value in
                re.findall(r"^(scikit-learn|fastmlp)\s+([0-9.]+)\s+[0-9.]+ ms$", out, re.M)}
    assert set(accuracy) == {"scikit-learn", "fastmlp"}, out
    # the accuracy it prints is the model's: the same fit done here
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(100,), max_iter=3, random_state=0).fit(
            X_train, y_train)
    assert accuracy["fastmlp"] == round(clf.score(X_test, y_test), 4)
    # the same model as scikit-learn's (README: agree to rounding)
    assert accuracy["scikit-learn"] == accuracy["fastmlp"]
    match = re.search(r"max \|weight difference\| = ([0-9.e+-]+), "
                      r"identical test predictions: ([0-9.]+)%", out)
    assert match, out
    assert float(match.group(1)) < 1e-9 and float(match.group(2)) == 100.0
    assert re.search(r"fastmlp fits [0-9.]+x faster than scikit-learn", out)
