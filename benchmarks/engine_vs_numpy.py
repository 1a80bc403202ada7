"""One training epoch: the C engine against the same arithmetic in NumPy.

    python benchmarks/engine_vs_numpy.py [--workload wide] [--dtype float32] [--repeats 5]

Both run the same epoch (gather each shuffled mini-batch, forward with relu,
softmax cross-entropy, backward, L2, Adam update) on the same data; the runs
are interleaved (engine, numpy, engine, ...) and the medians compared.
"""
import argparse
import statistics
import time

import numpy as np
from sklearn.datasets import make_classification

from fastmlp import _engine

# name: (n_samples, layer sizes, batch size), from benchmarks/README.md
WORKLOADS = {
    "digits": (1797, [64, 100, 10], 200),
    "tabular": (50_000, [20, 32, 32, 2], 200),
    "deep": (30_000, [64] + [64] * 6 + [10], 128),
    "wide": (20_000, [784, 512, 256, 10], 256),
    "regression": (30_000, [100, 256, 256, 1], 200),
}


class NumpyEpoch:
    """The engine's epoch written with NumPy array operations."""

    def __init__(self, sizes, params, alpha, dtype):
        self.sizes, self.alpha, self.dtype = sizes, alpha, dtype
        self.params = params
        self.m = np.zeros_like(params)
        self.v = np.zeros_like(params)
        self.t = 0
        n_w = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        self.W, self.b, self.gW, self.gb = [], [], [], []
        self.grad = np.empty_like(params)
        off_w, off_b = 0, n_w
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            self.W.append(params[off_w : off_w + fan_in * fan_out].reshape(fan_in, fan_out))
            self.gW.append(self.grad[off_w : off_w + fan_in * fan_out].reshape(fan_in, fan_out))
            self.b.append(params[off_b : off_b + fan_out])
            self.gb.append(self.grad[off_b : off_b + fan_out])
            off_w += fan_in * fan_out
            off_b += fan_out

    def epoch(self, X, Y, order, batch_size, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            acts = [X[idx]]
            y = Y[idx]
            n = len(idx)
            for i, (W, b) in enumerate(zip(self.W, self.b)):
                z = acts[-1] @ W
                z += b
                if i < len(self.W) - 1:
                    np.maximum(z, 0, out=z)
                acts.append(z)
            z = acts[-1]
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=1, keepdims=True)
            total += -np.log(np.clip(z[y.astype(bool)], 1e-15, 1)).sum()
            delta = z - y
            for i in range(len(self.W) - 1, -1, -1):
                np.dot(acts[i].T, delta, out=self.gW[i])
                self.gW[i] += self.alpha * self.W[i]
                self.gW[i] /= n
                self.gb[i][:] = delta.sum(axis=0) / n
                if i:
                    delta = delta @ self.W[i].T
                    delta[acts[i] == 0] = 0
            self.t += 1
            g = self.grad
            self.m *= b1
            self.m += (1 - b1) * g
            self.v *= b2
            self.v += (1 - b2) * g * g
            step = lr * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
            self.params -= step * self.m / (np.sqrt(self.v) + eps)
        return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", default="wide", choices=sorted(WORKLOADS))
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    dtype = np.dtype(args.dtype)
    n_samples, sizes, batch_size = WORKLOADS[args.workload]
    n_classes = sizes[-1] if sizes[-1] > 1 else 2
    X, y = make_classification(n_samples, sizes[0], n_informative=min(sizes[0], 10),
                               n_classes=n_classes, random_state=0)
    X = X.astype(dtype)
    Y = np.eye(sizes[-1], dtype=dtype)[y % sizes[-1]]
    net = _engine.Network(sizes, ["relu"] * (len(sizes) - 2), "cross_entropy", alpha=1e-4)
    rng = np.random.default_rng(0)
    params = (rng.uniform(-0.05, 0.05, net.n_params)).astype(dtype)
    engine_params = params.copy()
    optimizer = _engine.Optimizer("adam", net.n_params, dtype)
    reference = NumpyEpoch(sizes, params.copy(), 1e-4, dtype)

    times = {"engine": [], "numpy": []}
    for _ in range(args.repeats):
        order = rng.permutation(n_samples).astype(np.int64)
        start = time.perf_counter()
        _engine.train_epoch(net, engine_params, optimizer, X, Y, None, order, batch_size)
        times["engine"].append(time.perf_counter() - start)
        start = time.perf_counter()
        reference.epoch(X, Y, order, batch_size)
        times["numpy"].append(time.perf_counter() - start)

    flops = n_samples * (6 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
                         - 2 * sizes[0] * sizes[1])
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"workload {args.workload} {sizes} batch {batch_size}, {n_samples} samples, "
          f"{dtype.name}, median of {args.repeats} interleaved epochs")
    for name in ("engine", "numpy"):
        print(f"  {name:7} {med[name] * 1e3:9.1f} ms/epoch  {flops / med[name] / 1e9:6.1f} GFLOP/s")
    print(f"  engine is {med['numpy'] / med['engine']:.2f}x faster than NumPy")
    drift = np.abs(engine_params - reference.params).max()
    print(f"  max |parameter difference| after {args.repeats} epochs: {drift:.1e}")


if __name__ == "__main__":
    main()
