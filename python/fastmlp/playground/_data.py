"""The playground's data sets, input features and their Python code.

Every data set is a small NumPy function of (n_points, noise, rng) on the
plane [-6, 6]^2, like the TensorFlow Playground's; its source is what the
"Python code" panel shows, so the panel's script regenerates the same
points.  Classification labels are -1 and 1, regression targets lie in
[-1, 1].
"""

import inspect

import numpy as np

# The plane the page shows, both axes.
DOMAIN = 6.0


def circle(n_points, noise, rng):
    """Class 1 inside radius 2.5, class -1 on a ring from 3.5 to 5."""
    radius = np.where(np.arange(n_points) < n_points // 2,
                      rng.uniform(0, 2.5, n_points), rng.uniform(3.5, 5, n_points))
    angle = rng.uniform(0, 2 * np.pi, n_points)
    X = np.column_stack([radius * np.sin(angle), radius * np.cos(angle)])
    X_noisy = X + rng.uniform(-5, 5, X.shape) * noise
    y = np.where(np.hypot(X[:, 0], X[:, 1]) < 3, 1, -1)
    return X_noisy, y


def xor(n_points, noise, rng):
    """The sign of x1 * x2, points kept 0.3 away from the axes."""
    X = rng.uniform(-5, 5, (n_points, 2))
    X += np.where(X > 0, 0.3, -0.3)
    X_noisy = X + rng.uniform(-5, 5, X.shape) * noise
    y = np.where(X[:, 0] * X[:, 1] >= 0, 1, -1)
    return X_noisy, y


def gaussians(n_points, noise, rng):
    """Two Gaussian clouds, class 1 around (2, 2), class -1 around (-2, -2)."""
    y = np.where(np.arange(n_points) < n_points // 2, 1, -1)
    spread = 0.5 + 3.5 * noise
    X = y[:, None] * 2.0 + rng.normal(0, spread, (n_points, 2))
    return X, y


def spiral(n_points, noise, rng):
    """Two interleaved spirals, one per class."""
    half = n_points // 2
    t = np.concatenate([np.arange(half) / half, np.arange(n_points - half) / (n_points - half)])
    y = np.where(np.arange(n_points) < half, 1, -1)
    radius = 5 * t
    angle = 1.75 * 2 * np.pi * t + np.where(y == 1, 0, np.pi)
    X = np.column_stack([radius * np.sin(angle), radius * np.cos(angle)])
    X += rng.uniform(-1, 1, X.shape) * noise * 5
    return X, y


def plane(n_points, noise, rng):
    """Regression: a tilted plane, (x1 + x2) / 10."""
    X = rng.uniform(-DOMAIN, DOMAIN, (n_points, 2))
    y = (X[:, 0] + X[:, 1]) / (2 * DOMAIN)
    X_noisy = X + rng.uniform(-DOMAIN, DOMAIN, X.shape) * noise
    return X_noisy, y


def multi_gaussian(n_points, noise, rng):
    """Regression: six signed Gaussian bumps; the target is the strongest."""
    centers = np.array([[-4, 2.5], [0, 2.5], [4, 2.5], [-4, -2.5], [0, -2.5], [4, -2.5]])
    signs = np.array([-1, 1, -1, 1, -1, 1])
    X = rng.uniform(-DOMAIN, DOMAIN, (n_points, 2))
    distance = np.linalg.norm(X[:, None, :] - centers[None], axis=2)
    bumps = signs * np.maximum(0, 1 - distance / 3)
    y = bumps[np.arange(n_points), np.argmax(np.abs(bumps), axis=1)]
    X_noisy = X + rng.uniform(-DOMAIN, DOMAIN, X.shape) * noise
    return X_noisy, y


DATASETS = {
    "circle": circle,
    "xor": xor,
    "gaussians": gaussians,
    "spiral": spiral,
    "plane": plane,
    "multi_gaussian": multi_gaussian,
}
PROBLEMS = {
    "classification": ("circle", "xor", "gaussians", "spiral"),
    "regression": ("plane", "multi_gaussian"),
}

# Input features as the NumPy expressions of X's two columns that both the
# server and the "Python code" panel use.
FEATURES = {
    "x1": "X[:, 0]",
    "x2": "X[:, 1]",
    "x1_squared": "X[:, 0] ** 2",
    "x2_squared": "X[:, 1] ** 2",
    "x1_times_x2": "X[:, 0] * X[:, 1]",
    "sin_x1": "np.sin(X[:, 0])",
    "sin_x2": "np.sin(X[:, 1])",
}
_FEATURE_FUNCTIONS = {
    name: eval("lambda X: " + code, {"np": np}) for name, code in FEATURES.items()  # noqa: S307 (constants)
}


def features(X, names):
    """The columns of the chosen features of X (n_samples, 2), in order."""
    return np.column_stack([_FEATURE_FUNCTIONS[name](X) for name in names])


def make_data(dataset, n_points, noise, train_fraction, seed):
    """(X_train, y_train, X_test, y_test): the data set drawn with
    default_rng(seed), shuffled, the first train_fraction for training."""
    rng = np.random.default_rng(seed)
    X, y = DATASETS[dataset](n_points, noise, rng)
    order = rng.permutation(n_points)
    n_train = int(round(train_fraction * n_points))
    train, test = order[:n_train], order[n_train:]
    return X[train], y[train], X[test], y[test]


def dataset_source(dataset):
    """The source of the data set's function, for the code panel."""
    return inspect.getsource(DATASETS[dataset])
