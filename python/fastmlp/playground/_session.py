"""One playground session (one browser tab): its configuration, data, model
and the background thread that trains it and renders frames.

The model is an ordinary MLPClassifier / MLPRegressor driven through its
public API: one ``partial_fit`` per epoch, ``predict_proba`` / ``predict`` on
the plane's grid, ``hidden_activations`` for each neuron's picture.

The training thread publishes the newest frame (one JSON document) and
never waits for a reader: a slow page just skips frames.
"""

import base64
import copy
import io
import json
import math
import pickle
import threading
import time
import warnings

import numpy as np

from fastmlp import MLPClassifier, MLPRegressor, _engine
from fastmlp.playground import _data

MAX_HIDDEN_LAYERS = 6
MAX_NEURONS = 8
MAX_POINTS = 5000
MAX_EPOCHS_PER_FRAME = 100
# Frames per second at most while training runs.
FRAME_RATE = 40
# The boundary's grid (GRID x GRID) and each neuron's (NEURON_GRID squared).
GRID = 100
NEURON_GRID = 32
# Loss curve points sent with a frame, at most.
HISTORY_POINTS = 400

SOLVERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "invscaling", "adaptive", "cosine", "step")
REGULARIZATIONS = ("none", "l1", "l2")

DEFAULT_CONFIG = {
    "problem": "classification",
    "dataset": "circle",
    "noise": 0,  # percent, 0-50
    "train_ratio": 50,  # percent of the points used for training, 10-90
    "n_points": 500,
    "data_seed": 0,
    "features": ["x1", "x2"],
    "hidden": [4, 2],
    "activation": ["tanh", "tanh"],
    "dropout": [0.0, 0.0],
    "batch_norm": [False, False],
    "solver": "sgd",
    "momentum": 0.0,
    "learning_rate": 0.03,
    "schedule": "constant",
    "regularization": "none",
    "regularization_rate": 0.0,
    "batch_size": 10,
    "seed": 0,
    # how many epochs each frame advances while playing (no reset)
    "epochs_per_frame": 1,
}
# Keys whose change keeps the model (everything else starts it afresh).
RUN_KEYS = frozenset({"epochs_per_frame"})


class ConfigError(ValueError):
    """A configuration the playground refuses (HTTP 400, message shown)."""


def options():
    """The values the page offers in its controls."""
    return {
        "problems": _data.PROBLEMS,
        "features": list(_data.FEATURES),
        "activations": list(_engine.HIDDEN_ACTIVATIONS),
        "solvers": SOLVERS,
        "schedules": SCHEDULES,
        "regularizations": REGULARIZATIONS,
        "max_hidden_layers": MAX_HIDDEN_LAYERS,
        "max_neurons": MAX_NEURONS,
        "max_points": MAX_POINTS,
        "max_epochs_per_frame": MAX_EPOCHS_PER_FRAME,
        "defaults": DEFAULT_CONFIG,
        "grid": GRID,
        "neuron_grid": NEURON_GRID,
        "domain": _data.DOMAIN,
    }


def _int(config, key, low, high):
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key} must be an integer from {low} to {high}; got {value!r}")


def _per_layer(config, key, n_hidden, check):
    value = config[key]
    if not isinstance(value, list) or len(value) != n_hidden:
        raise ConfigError(
            f"{key} must be a list with one value per hidden layer ({n_hidden}); got {value!r}"
        )
    for item in value:
        check(item)


def merge_config(config, changes):
    """The configuration with `changes` applied, checked: a ConfigError for an
    unknown key or a value outside the playground's limits.  The estimator's
    own parameters are checked by the estimator (see check_estimator)."""
    if not isinstance(changes, dict):
        raise ConfigError("the configuration must be a JSON object")
    unknown = sorted(set(changes) - set(DEFAULT_CONFIG))
    if unknown:
        raise ConfigError(f"unknown parameter {unknown[0]!r}; known: {', '.join(DEFAULT_CONFIG)}")
    new = copy.deepcopy(config)
    new.update(copy.deepcopy(changes))
    if new["problem"] not in _data.PROBLEMS:
        raise ConfigError(f"problem must be one of {list(_data.PROBLEMS)}; got {new['problem']!r}")
    if "problem" in changes and "dataset" not in changes:
        if new["dataset"] not in _data.PROBLEMS[new["problem"]]:
            new["dataset"] = _data.PROBLEMS[new["problem"]][0]
    if new["dataset"] not in _data.PROBLEMS[new["problem"]]:
        raise ConfigError(
            f"dataset must be one of {list(_data.PROBLEMS[new['problem']])} for "
            f"{new['problem']}; got {new['dataset']!r}"
        )
    _int(new, "noise", 0, 50)
    _int(new, "train_ratio", 10, 90)
    _int(new, "n_points", 10, MAX_POINTS)
    _int(new, "data_seed", 0, 2**31 - 1)
    _int(new, "seed", 0, 2**31 - 1)
    _int(new, "epochs_per_frame", 1, MAX_EPOCHS_PER_FRAME)
    features = new["features"]
    if (
        not isinstance(features, list) or not features
        or any(f not in _data.FEATURES for f in features) or len(set(features)) != len(features)
    ):
        raise ConfigError(
            f"features must be a non-empty list of distinct names from {list(_data.FEATURES)}; "
            f"got {features!r}"
        )
    new["features"] = [f for f in _data.FEATURES if f in features]  # canonical order
    hidden = new["hidden"]
    if not isinstance(hidden, list) or len(hidden) > MAX_HIDDEN_LAYERS or any(
        isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= MAX_NEURONS for h in hidden
    ):
        raise ConfigError(
            f"hidden must be a list of at most {MAX_HIDDEN_LAYERS} layer sizes, each from 1 "
            f"to {MAX_NEURONS}; got {hidden!r}"
        )
    n_hidden = len(hidden)

    def is_str(v):
        if not isinstance(v, str):
            raise ConfigError(f"activation must be a list of names; got {v!r}")

    def is_bool(v):
        if not isinstance(v, bool):
            raise ConfigError(f"batch_norm must be a list of true/false; got {v!r}")

    def is_number(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"dropout must be a list of numbers; got {v!r}")

    _per_layer(new, "activation", n_hidden, is_str)
    _per_layer(new, "batch_norm", n_hidden, is_bool)
    _per_layer(new, "dropout", n_hidden, is_number)
    for key, allowed in (("solver", SOLVERS), ("schedule", SCHEDULES),
                         ("regularization", REGULARIZATIONS)):
        if new[key] not in allowed:
            raise ConfigError(f"{key} must be one of {list(allowed)}; got {new[key]!r}")
    for key in ("learning_rate", "momentum", "regularization_rate"):
        if isinstance(new[key], bool) or not isinstance(new[key], (int, float)):
            raise ConfigError(f"{key} must be a number; got {new[key]!r}")
    _int(new, "batch_size", 1, MAX_POINTS)
    return new


def _same(values):
    return all(v == values[0] for v in values)


def estimator_params(config, n_train):
    """The estimator class and keyword arguments of a configuration."""
    hidden = config["hidden"]
    rate = config["regularization_rate"]
    params = {
        "hidden_layer_sizes": tuple(hidden),
        # one value for all layers when they agree (the shorter code)
        "activation": config["activation"][0] if hidden and _same(config["activation"])
        else ("tanh" if not hidden else list(config["activation"])),
        "solver": config["solver"],
        "learning_rate_init": config["learning_rate"],
        "learning_rate": config["schedule"],
        "batch_size": min(config["batch_size"], max(n_train, 1)),
        "alpha": rate if config["regularization"] == "l2" else 0.0,
        "l1": rate if config["regularization"] == "l1" else 0.0,
        "random_state": config["seed"],
    }
    if config["solver"] == "sgd":
        params["momentum"] = config["momentum"]
    if any(config["dropout"]):
        params["dropout"] = (config["dropout"][0] if _same(config["dropout"])
                             else list(config["dropout"]))
    if any(config["batch_norm"]):
        params["batch_norm"] = (True if all(config["batch_norm"])
                                else list(config["batch_norm"]))
    cls = MLPClassifier if config["problem"] == "classification" else MLPRegressor
    return cls, params


def _fit_args(config):
    return {"classes": [-1, 1]} if config["problem"] == "classification" else {}


def check_estimator(config):
    """Raise the estimator's own error for a configuration it refuses: one
    partial_fit of a throwaway estimator on a few points."""
    cls, params = estimator_params(config, 10)
    X = _data.features(np.array([[1.0, 2.0], [-1.0, -2.0]] * 5), config["features"])
    y = np.array([1, -1] * 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cls(**params).partial_fit(X, y, **_fit_args(config))
        except (ValueError, TypeError) as exc:
            # a trial that diverges is a run to show, not a setting to refuse
            if "non-finite" not in str(exc):
                raise ConfigError(str(exc)) from None


def _quantize(values):
    """Values in [-1, 1] (clipped) as bytes 0-255, base64."""
    codes = np.clip(np.rint((np.asarray(values, np.float64) + 1) * 127.5), 0, 255)
    return base64.b64encode(codes.astype(np.uint8).tobytes()).decode("ascii")


def _plane_grid(n):
    """(n*n, 2) points of the plane, rows from the top (x2 = DOMAIN) down,
    columns from the left."""
    axis = np.linspace(-_data.DOMAIN, _data.DOMAIN, n)
    x1, x2 = np.meshgrid(axis, axis[::-1])
    return np.column_stack([x1.ravel(), x2.ravel()])


class Session:
    """A configuration, its data and model, and the thread training it."""

    def __init__(self, session_id, config):
        self.id = session_id
        self.last_seen = time.monotonic()
        self.n_streams = 0  # open event streams
        self._lock = threading.RLock()  # the model, data and configuration
        self._frame_ready = threading.Condition()  # guards frame and version
        self._wake = threading.Event()
        self._closed = False
        self.running = False
        self.version = 0
        self.frame_json = b"{}"
        self.data_version = 0
        self.config = config
        self._rebuild(new_data=True)
        self._thread = threading.Thread(
            target=self._train_loop, name=f"playground-{session_id}", daemon=True
        )
        self._thread.start()

    # ---- state changes (each publishes a frame) ----------------------

    def set_config(self, changes):
        with self._lock:
            new = merge_config(self.config, changes)
            model_keys = {k for k in DEFAULT_CONFIG if k not in RUN_KEYS}
            if any(new[k] != self.config[k] for k in model_keys):
                check_estimator(new)
                data_keys = ("problem", "dataset", "noise", "train_ratio", "n_points",
                             "data_seed")
                new_data = any(new[k] != self.config[k] for k in data_keys)
                self.config = new
                self._rebuild(new_data=new_data)
            else:
                self.config = new
            return self.state()

    def play(self):
        with self._lock:
            if self.error is None:
                self.running = True
                self._wake.set()
            self._publish()
            return self.state()

    def pause(self):
        with self._lock:
            self.running = False
            self._publish()
            return self.state()

    def step(self):
        with self._lock:
            self.running = False
            self._epoch()
            self._publish()
            return self.state()

    def reset(self):
        with self._lock:
            self._rebuild(new_data=False)
            return self.state()

    def regenerate(self):
        with self._lock:
            self.config["data_seed"] = (self.config["data_seed"] + 1) % 2**31
            self._rebuild(new_data=True)
            return self.state()

    def close(self):
        with self._lock:
            self._closed = True
            self.running = False
            self._wake.set()
        with self._frame_ready:
            self._frame_ready.notify_all()

    @property
    def closed(self):
        return self._closed

    # ---- reading -------------------------------------------------------

    def state(self):
        with self._lock:
            return {
                "session": self.id,
                "epoch": self.epoch,
                "train_loss": self.train_loss,
                "test_loss": self.test_loss,
                "running": self.running,
                "error": self.error,
                "config": copy.deepcopy(self.config),
                "n_train": len(self.y_train),
                "n_test": len(self.y_test),
                "data_version": self.data_version,
            }

    def wait_frame(self, after_version, timeout):
        """(version, frame JSON bytes) once a frame newer than after_version
        exists, or the current one after `timeout` seconds."""
        with self._frame_ready:
            self._frame_ready.wait_for(
                lambda: self.version > after_version or self._closed, timeout
            )
            return self.version, self.frame_json

    def data(self):
        with self._lock:
            return {
                "data_version": self.data_version,
                "train": np.column_stack([self.X_train, self.y_train]).round(4).tolist(),
                "test": np.column_stack([self.X_test, self.y_test]).round(4).tolist(),
            }

    def data_csv(self):
        with self._lock:
            out = io.StringIO()
            out.write("x1,x2,y,subset\n")
            for subset, X, y in (("train", self.X_train, self.y_train),
                                 ("test", self.X_test, self.y_test)):
                for (x1, x2), target in zip(X, y):
                    out.write(f"{float(x1)!r},{float(x2)!r},{target.item()!r},{subset}\n")
            return out.getvalue()

    def model_pickle(self):
        """The trained estimator pickled, or None before the first epoch."""
        with self._lock:
            return None if self.epoch == 0 else pickle.dumps(self.model)

    def code(self):
        with self._lock:
            return python_code(self.config, self.epoch, len(self.y_train))

    # ---- internals (called with self._lock held) -----------------------

    def _rebuild(self, new_data):
        config = self.config
        if new_data:
            self.X_train, self.y_train, self.X_test, self.y_test = _data.make_data(
                config["dataset"], config["n_points"], config["noise"] / 100,
                config["train_ratio"] / 100, config["data_seed"],
            )
            self.data_version += 1
        names = config["features"]
        self.F_train = _data.features(self.X_train, names)
        self.F_test = _data.features(self.X_test, names)
        self.F_grid = _data.features(_plane_grid(GRID), names)
        self.F_neuron_grid = _data.features(_plane_grid(NEURON_GRID), names)
        cls, params = estimator_params(config, len(self.y_train))
        self.model = cls(**params)
        self.epoch = 0
        self.train_loss = self.test_loss = None
        self.history = []  # (epoch, train loss, test loss)
        self.error = None
        self.running = False
        self._publish()

    def _epoch(self):
        """One partial_fit; a failure (a diverging solver) stops the run and
        is shown, the model keeping its last weights."""
        if self.error is not None:
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.model.partial_fit(self.F_train, self.y_train, **_fit_args(self.config))
        except (ValueError, ArithmeticError) as exc:
            self.error = f"epoch {self.epoch + 1} failed: {exc}"
            self.running = False
            return
        self.epoch += 1
        self.train_loss = self._loss(self.F_train, self.y_train)
        self.test_loss = self._loss(self.F_test, self.y_test) if len(self.y_test) else None
        self.history.append((self.epoch, self.train_loss, self.test_loss))

    def _loss(self, F, y):
        """The estimator's data loss (no penalty): mean log-loss for
        classification, half the mean squared error for regression."""
        if self.config["problem"] == "classification":
            p = np.clip(self.model.predict_proba(F)[:, 1], 1e-15, 1 - 1e-15)
            loss = -np.mean(np.where(y == 1, np.log(p), np.log1p(-p)))
        else:
            loss = 0.5 * np.mean((self.model.predict(F) - y) ** 2)
        return float(loss) if math.isfinite(loss) else None

    def _output(self, F):
        """The output on the page's scale: 2 P(class 1) - 1, or the value."""
        if self.config["problem"] == "classification":
            return 2 * self.model.predict_proba(F)[:, 1] - 1
        return self.model.predict(F)

    def _frame(self):
        fitted = self.epoch > 0 and hasattr(self.model, "coefs_")
        boundary = neurons = weights = biases = None
        if fitted:
            boundary = _quantize(self._output(self.F_grid))
            neurons = [
                _quantize(self.model.hidden_activations(self.F_neuron_grid, layer=l).T)
                for l in range(len(self.config["hidden"]))
            ]
            weights = [np.round(c, 4).tolist() for c in self.model.coefs_]
            biases = [np.round(b, 4).tolist() for b in self.model.intercepts_]
        stride = max(1, math.ceil(len(self.history) / HISTORY_POINTS))
        history = self.history[::stride]
        if self.history and history[-1] is not self.history[-1]:
            history.append(self.history[-1])
        return {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "test_loss": self.test_loss,
            "running": self.running,
            "error": self.error,
            "data_version": self.data_version,
            "config": self.config,
            "boundary": boundary,
            "neurons": neurons,
            "weights": weights,
            "biases": biases,
            "history": history,
        }

    def _publish(self):
        frame = self._frame()
        with self._frame_ready:
            frame["version"] = self.version + 1
            self.frame_json = json.dumps(frame, separators=(",", ":")).encode()
            self.version += 1
            self._frame_ready.notify_all()

    def _train_loop(self):
        """While running: epochs, and a frame every 1/FRAME_RATE seconds or
        after epochs_per_frame epochs, whichever comes first (so slow epochs
        do not slow the pictures down); at most epochs_per_frame epochs per
        frame interval.  Otherwise wait to be woken."""
        interval = 1.0 / FRAME_RATE
        while not self._closed:
            if not self.running:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            started = time.monotonic()
            with self._lock:
                for _ in range(self.config["epochs_per_frame"]):
                    if not self.running or self._closed:
                        break
                    self._epoch()
                    if time.monotonic() - started > 0.7 * interval:
                        break
                if self._closed:
                    break
                self._publish()
            # the rest of the frame's time lets the HTTP threads run
            time.sleep(max(0.002, interval - (time.monotonic() - started)))


def python_code(config, epoch, n_train):
    """A script that reproduces the session: data, features, estimator and
    `epoch` calls of partial_fit."""
    cls, params = estimator_params(config, n_train)
    args = ",\n".join(f"    {k}={v!r}" for k, v in params.items())
    feature_lines = "\n".join(
        f"        {_data.FEATURES[name]},  # {name}" for name in config["features"]
    )
    fit_args = ", classes=[-1, 1]" if config["problem"] == "classification" else ""
    score = "accuracy" if config["problem"] == "classification" else "R^2"
    return f'''\
# fastmlp playground: this script trains the model the page showed.
import numpy as np
from fastmlp import {cls.__name__}


{_data.dataset_source(config["dataset"]).rstrip()}


def features(X):
    return np.column_stack([
{feature_lines}
    ])


rng = np.random.default_rng({config["data_seed"]})
X, y = {config["dataset"]}({config["n_points"]}, {config["noise"] / 100!r}, rng)
order = rng.permutation(len(X))
n_train = int(round({config["train_ratio"] / 100!r} * len(X)))
X_train, y_train = X[order[:n_train]], y[order[:n_train]]
X_test, y_test = X[order[n_train:]], y[order[n_train:]]

model = {cls.__name__}(
{args},
)
for epoch in range({epoch}):  # one partial_fit per epoch, as the page does
    model.partial_fit(features(X_train), y_train{fit_args})
''' + (f'print("test {score}:", model.score(features(X_test), y_test))\n' if epoch else "")
