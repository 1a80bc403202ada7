"""fastmlp against scikit-learn and PyTorch, side by side in one process.

    python benchmarks/compare.py [--quick] [--repeats N] [--workloads a,b]
                                 [--sections fit,predict,latency,lbfgs,memory,scaling]
                                 [--dtypes float32,float64] [--threads N] [--json out.json]

Every number is a same-run comparison (see benchmarks/README.md): the
contenders run interleaved (fastmlp, sklearn, torch, fastmlp, sklearn, torch,
...), each timed with time.perf_counter, and the medians are compared.  The
GEMM rate that bounds training ("the limit") is measured in the same rounds.

Sections
  gemm     large-square GEMM rate: numpy (numpy's OpenBLAS) and the engine's
           own GEMM (`_kernels.dense_forward`, gemm="blas": scipy's
           OpenBLAS, the BLAS the engine trains with).  Always run.
  fit      the workloads of benchmarks/README.md, float32 and float64: fit time of
           fastmlp, scikit-learn (same arguments), PyTorch (same architecture,
           Adam, batch size and epochs); ratios; fastmlp's GFLOP/s and the
           fraction of the engine-BLAS GEMM rate measured in the same rounds.
  predict  predict_proba on 100k rows with a 64-100-10 model.
  latency  one request at a time: predict_proba and predict on 1, 10 and 100
           float32 rows, a 64-100-10 classifier and a 64-100-1 regressor
           (digits): fastmlp, scikit-learn and onnxruntime (fastmlp.to_onnx,
           one thread); each call timed alone, median of 5,000 per contender,
           interleaved in blocks of 100 calls.
  lbfgs    L-BFGS fit on digits (64-100-10, max_iter=100).
  memory   peak resident memory added by `fit`, each estimator in its own
           subprocess, against a baseline subprocess that only loads the data.
  scaling  fastmlp time per epoch at 1x, 4x and 16x the samples (tabular).
"""
import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

# ---------------------------------------------------------------------------
# Workloads (benchmarks/README.md).  Binary targets: like scikit-learn, one
# logistic output unit (the table's "-2" is the class count).

WORKLOADS = {
    "digits": dict(data="digits", n_samples=1797, n_features=64, n_classes=10,
                   hidden=(100,), batch=200, epochs=40),
    "tabular": dict(data="classification", n_samples=50_000, n_features=20, n_classes=2,
                    hidden=(32, 32), batch=200, epochs=4),
    "deep": dict(data="classification", n_samples=30_000, n_features=64, n_classes=10,
                 hidden=(64,) * 6, batch=128, epochs=3),
    "wide": dict(data="classification", n_samples=20_000, n_features=784, n_classes=10,
                 hidden=(512, 256), batch=256, epochs=2),
    "regression": dict(data="regression", n_samples=30_000, n_features=100, n_classes=None,
                       hidden=(256, 256), batch=200, epochs=2),
}
# --quick: same shapes, fewer samples and epochs (a smoke test, not a measurement)
QUICK = {
    "digits": dict(epochs=10),
    "tabular": dict(n_samples=10_000, epochs=2),
    "deep": dict(n_samples=6_000, epochs=1),
    "wide": dict(n_samples=4_000, epochs=1),
    "regression": dict(n_samples=6_000, epochs=1),
}
ALPHA = 1e-4
LR, BETA_1, BETA_2, EPS = 1e-3, 0.9, 0.999, 1e-8
SEED = 0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def timed(fn, *args):
    gc.collect()
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


# ---------------------------------------------------------------------------
# Data

def make_data(spec, dtype):
    """X (C-contiguous, dtype), y (int labels or float targets)."""
    from sklearn.datasets import load_digits, make_classification, make_regression

    if spec["data"] == "digits":
        X, y = load_digits(return_X_y=True)
        X = X / 16.0
    elif spec["data"] == "classification":
        X, y = make_classification(spec["n_samples"], spec["n_features"],
                                   n_informative=min(spec["n_features"], 10),
                                   n_classes=spec["n_classes"], random_state=SEED)
    else:
        X, y = make_regression(spec["n_samples"], spec["n_features"], n_informative=20,
                               noise=1.0, random_state=SEED)
        y = y / y.std()
    X = np.ascontiguousarray(X, dtype=dtype)
    if spec["data"] == "regression":
        y = y.astype(dtype)
    return X, y


def layer_sizes(spec):
    n_classes = spec["n_classes"]
    n_out = 1 if n_classes in (None, 2) else n_classes
    return [spec["n_features"], *spec["hidden"], n_out]


def flops_per_sample_epoch(sizes):
    """Forward 2P, backward 4P, less the first layer's unneeded input gradient."""
    p_weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return 6 * p_weights - 2 * sizes[0] * sizes[1]


# ---------------------------------------------------------------------------
# Contenders

def estimator_kwargs(spec, epochs=None, solver="adam"):
    epochs = spec["epochs"] if epochs is None else epochs
    return dict(hidden_layer_sizes=spec["hidden"], activation="relu", solver=solver,
                alpha=ALPHA, batch_size=spec["batch"], learning_rate_init=LR,
                max_iter=epochs, shuffle=True, random_state=SEED, tol=0.0,
                n_iter_no_change=max(epochs, 1), early_stopping=False,
                beta_1=BETA_1, beta_2=BETA_2, epsilon=EPS)


def estimator_class(lib, spec):
    if lib == "fastmlp":
        import fastmlp as mod
    else:
        import sklearn.neural_network as mod
    return mod.MLPRegressor if spec["data"] == "regression" else mod.MLPClassifier


def fit_estimator(lib, spec, X, y, epochs=None, solver="adam"):
    est = estimator_class(lib, spec)(**estimator_kwargs(spec, epochs, solver))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    return est


class TorchTrainer:
    """The same MLP in PyTorch: Linear/ReLU layers, Adam(lr 1e-3, betas
    (0.9, 0.999), eps 1e-8), mini-batches from a torch.randperm index per
    epoch (no DataLoader).  L2: scikit-learn adds 0.5*alpha*sum(W^2)/batch to
    each batch loss, i.e. alpha*W/batch to the weight gradients; here that is
    Adam's (coupled) weight_decay=alpha/batch on the weight matrices only
    (biases are not penalized, as in scikit-learn).  Loss: cross-entropy on
    logits (multiclass), BCE-with-logits (binary, one output unit), squared
    error (regression).  The epoch's summed loss is accumulated with .item()
    as scikit-learn's loss_curve_ does."""

    def __init__(self, torch, adam_impl="default"):
        self.torch = torch
        self.adam_impl = adam_impl

    def fit(self, spec, X, y, epochs=None):
        torch = self.torch
        nn = torch.nn
        epochs = spec["epochs"] if epochs is None else epochs
        tdtype = torch.float32 if X.dtype == np.float32 else torch.float64
        torch.manual_seed(SEED)
        sizes = layer_sizes(spec)
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b, dtype=tdtype))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        model = nn.Sequential(*layers)
        Xt = torch.from_numpy(X)
        if spec["data"] == "regression":
            yt = torch.from_numpy(np.ascontiguousarray(y, dtype=X.dtype)).reshape(-1, 1)
            loss_fn = nn.MSELoss()
        elif sizes[-1] == 1:
            yt = torch.from_numpy(np.asarray(y, dtype=X.dtype)).reshape(-1, 1)
            loss_fn = nn.BCEWithLogitsLoss()
        else:
            yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
            loss_fn = nn.CrossEntropyLoss()
        n = X.shape[0]
        batch = min(spec["batch"], n)
        weights = [m.weight for m in model if isinstance(m, nn.Linear)]
        biases = [m.bias for m in model if isinstance(m, nn.Linear)]
        extra = {}
        if self.adam_impl == "foreach":
            extra["foreach"] = True
        elif self.adam_impl == "fused":
            extra["fused"] = True
        opt = torch.optim.Adam([{"params": weights, "weight_decay": ALPHA / batch},
                                {"params": biases, "weight_decay": 0.0}],
                               lr=LR, betas=(BETA_1, BETA_2), eps=EPS, **extra)
        gen = torch.Generator().manual_seed(SEED)
        loss_curve = []
        for _ in range(epochs):
            perm = torch.randperm(n, generator=gen)
            total = 0.0
            for start in range(0, n, batch):
                idx = perm[start:start + batch]
                xb, yb = Xt[idx], yt[idx]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            loss_curve.append(total / n)
        return loss_curve


def import_torch():
    try:
        import torch
    except Exception as exc:  # not installed, or broken
        log(f"torch not importable ({exc!r}): torch columns skipped")
        return None
    return torch


# ---------------------------------------------------------------------------
# GEMM rate ("the limit")

class Gemm:
    """Large-square GEMM, n^3 multiply-adds: numpy's matmul (numpy's
    OpenBLAS) and the engine's dense_forward (fastmlp._kernels) with
    gemm="blas" (scipy's OpenBLAS via scipy.linalg.cython_blas, the BLAS
    training uses; identity
    activation, so one extra pass adds the bias: O(n^2), negligible)."""

    def __init__(self, n, dtype):
        rng = np.random.default_rng(SEED)
        self.n = n
        self.a = rng.standard_normal((n, n)).astype(dtype)
        self.b = rng.standard_normal((n, n)).astype(dtype)
        self.c = np.empty((n, n), dtype)
        self.bias = np.zeros(n, dtype)
        self.flops = 2.0 * n ** 3

    def numpy(self):
        t, _ = timed(np.matmul, self.a, self.b, self.c)
        return self.flops / t / 1e9

    def engine(self):
        from fastmlp import _kernels
        t, _ = timed(lambda: _kernels.dense_forward(self.a, self.b, self.bias, "identity",
                                                    gemm="blas"))
        return self.flops / t / 1e9


def section_gemm(args, dtypes, threads):
    """GEMM rates at `threads` threads; with more than one, also the engine's
    BLAS at one thread: a multi-thread rate below it means the machine is
    oversubscribed (BLAS threads wait for a core) and timings are unreliable."""
    from threadpoolctl import threadpool_limits

    n = 1024 if args.quick else 2048
    repeats = max(args.repeats, 3)
    rows = []
    for dtype in dtypes:
        g = Gemm(n, dtype)
        g.numpy(), g.engine()  # warm-up (threads, page faults)
        rates = {"numpy": [], "engine": [], "engine_1thread": []}
        for _ in range(repeats):
            rates["numpy"].append(g.numpy())
            rates["engine"].append(g.engine())
            if threads > 1:
                with threadpool_limits(limits=1):
                    rates["engine_1thread"].append(g.engine())
        rows.append(dict(dtype=np.dtype(dtype).name, n=n, threads=threads, rates=rates,
                         numpy_gflops=median(rates["numpy"]),
                         engine_gflops=median(rates["engine"]),
                         engine_1thread_gflops=median(rates["engine_1thread"])
                         if threads > 1 else None))
    print(f"\n== GEMM rate, {n}x{n}x{n}, {threads} thread(s), median of {repeats} "
          f"interleaved (GFLOP/s) ==")
    print(f"{'dtype':8} {'numpy':>8} {'engine BLAS (the limit)':>24}"
          + (f" {'engine BLAS, 1 thread':>22}" if threads > 1 else ""))
    for r in rows:
        print(f"{r['dtype']:8} {r['numpy_gflops']:8.1f} {r['engine_gflops']:24.1f}"
              + (f" {r['engine_1thread_gflops']:22.1f}" if threads > 1 else ""))
        if threads > 1 and r["engine_gflops"] < 1.2 * r["engine_1thread_gflops"]:
            print(f"WARNING: {threads} BLAS threads give {r['engine_gflops']:.0f} GFLOP/s, "
                  f"one gives {r['engine_1thread_gflops']:.0f}: the cores are busy, so "
                  f"multi-threaded timings below are unreliable; rerun with --threads 1")
    return rows


# ---------------------------------------------------------------------------
# The floor of a fit: its GEMMs alone

def gemm_floor(sizes, batch, n_samples, epochs, dtype, threads):
    """Seconds the fit's matrix products alone take at their exact shapes:
    per layer the forward product, the weight gradient and (but the first
    layer's) the input gradient, each by the faster of the BLAS and the
    engine's kernel and at the better of one and `threads` BLAS threads
    (fastmlp._engine.time_product: the fastest of several samples).  No
    training loop can beat it; fit time / floor is what the rest costs."""
    from threadpoolctl import threadpool_limits

    from fastmlp import _engine

    def per_batch(rows):
        total = 0.0
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            for product in _engine.PRODUCTS:
                if product == "input_grad" and layer == 0:
                    continue
                best = float("inf")
                for n_threads in sorted({1, threads}):
                    with threadpool_limits(limits=n_threads):
                        seconds = _engine.time_product(dtype, product, rows, fan_in, fan_out)
                    best = min(best, *seconds.values())
                total += best
        return total

    full, rest = divmod(n_samples, batch)
    return epochs * (full * per_batch(batch) + (per_batch(rest) if rest else 0.0))


# ---------------------------------------------------------------------------
# fit

def section_fit(args, dtypes, torch, gemm_rows=()):
    trainer = TorchTrainer(torch, args.torch_adam) if torch is not None else None
    gemm_n = 1024 if args.quick else 2048
    gemms = {np.dtype(d).name: Gemm(gemm_n, d) for d in dtypes}
    rows = []
    for name in args.workloads:
        spec = dict(WORKLOADS[name])
        if args.quick:
            spec.update(QUICK[name])
        for dtype in dtypes:
            dname = np.dtype(dtype).name
            X, y = make_data(spec, dtype)
            spec["n_samples"] = X.shape[0]
            sizes = layer_sizes(spec)
            log(f"fit {name} {dname} {X.shape} layers {sizes}")
            # warm-up on a slice: first calls load code and size thread pools
            warm = slice(0, min(2 * spec["batch"], X.shape[0]))
            Xw, yw = X[warm], y[warm]
            if spec["data"] != "regression" and len(np.unique(yw)) < 2:
                Xw, yw = X, y
            fit_estimator("fastmlp", spec, Xw, yw, epochs=1)
            fit_estimator("sklearn", spec, Xw, yw, epochs=1)
            if trainer is not None:
                trainer.fit(spec, np.ascontiguousarray(Xw), yw, epochs=1)
            gemms[dname].engine()
            times = {"fastmlp": [], "sklearn": [], "torch": []}
            limit = []
            info = {}
            for _ in range(args.repeats):
                t, est = timed(fit_estimator, "fastmlp", spec, X, y)
                times["fastmlp"].append(t)
                info["fastmlp"] = (est.n_iter_, est.loss_curve_[-1])
                t, est = timed(fit_estimator, "sklearn", spec, X, y)
                times["sklearn"].append(t)
                info["sklearn"] = (est.n_iter_, est.loss_curve_[-1])
                if trainer is not None:
                    t, curve = timed(trainer.fit, spec, X, y)
                    times["torch"].append(t)
                    info["torch"] = (len(curve), curve[-1])
                # best of two: a slowed GEMM call is noise, and the best rate is the
                # stricter (larger) limit
                limit.append(max(gemms[dname].engine(), gemms[dname].engine()))
            med = {k: median(v) for k, v in times.items()}
            floor = gemm_floor(sizes, spec["batch"], spec["n_samples"], spec["epochs"], dtype,
                               args.threads_used)
            flops = flops_per_sample_epoch(sizes) * spec["n_samples"] * spec["epochs"]
            gflops = flops / med["fastmlp"] / 1e9
            row = dict(
                workload=name, dtype=dname, n_samples=spec["n_samples"], layers=sizes,
                batch=spec["batch"], epochs=spec["epochs"], times=times,
                median=med, flops=flops, gflops=gflops,
                limit_gflops=median(limit), limit_samples=limit,
                fraction_of_limit=gflops / median(limit),
                gemm_floor=floor, over_floor=med["fastmlp"] / floor,
                sklearn_over_fastmlp=med["sklearn"] / med["fastmlp"],
                torch_over_fastmlp=(med["torch"] / med["fastmlp"]) if times["torch"]
                else None,
                round_ratios=dict(
                    sklearn=[s / f for s, f in zip(times["sklearn"], times["fastmlp"])],
                    torch=[t / f for t, f in zip(times["torch"], times["fastmlp"])]),
                n_iter={k: v[0] for k, v in info.items()},
                final_loss={k: float(v[1]) for k, v in info.items()},
            )
            one = next((g["engine_1thread_gflops"] for g in gemm_rows
                        if g["dtype"] == dname and g.get("engine_1thread_gflops")), None)
            # the multi-thread GEMM probe fell below the one-thread rate: BLAS threads
            # were starved for cores during this row, its timings are unreliable
            row["starved"] = bool(one is not None and row["limit_gflops"] < one)
            spread = [max(v) / min(v) for v in row["round_ratios"].values() if v]
            row["noisy"] = bool(spread and max(spread) > 1.5)
            rows.append(row)
            log(f"  fastmlp {med['fastmlp']:.3f}s  sklearn {med['sklearn']:.3f}s  "
                f"torch {med['torch']:.3f}s")
    print_fit(rows, args)
    return rows


def _range(xs):
    return f"{min(xs):.2f}-{max(xs):.2f}" if xs else "-"


def print_fit(rows, args):
    print(f"\n== fit: median of {args.repeats} interleaved rounds (seconds); ratio = "
          f"peer time / fastmlp time (>1: fastmlp faster); [per-round range] ==")
    head = (f"{'workload':10} {'dtype':7} {'fastmlp':>8} {'sklearn':>8} {'torch':>8} "
            f"{'sk/fm':>6} {'[range]':>11} {'torch/fm':>8} {'[range]':>11} "
            f"{'GFLOP/s':>8} {'limit':>7} {'%limit':>6} {'floor':>7} {'fm/floor':>8}"
            f"  loss fm | sk")
    print(head)
    print("-" * len(head))
    for r in rows:
        m = r["median"]
        tor = f"{m['torch']:8.3f}" if r["times"]["torch"] else f"{'-':>8}"
        tr = (f"{r['torch_over_fastmlp']:7.2f}x" if r["torch_over_fastmlp"] is not None
              else f"{'-':>8}")
        fl = r["final_loss"]
        print(f"{r['workload']:10} {r['dtype']:7} {m['fastmlp']:8.3f} {m['sklearn']:8.3f} "
              f"{tor} {r['sklearn_over_fastmlp']:5.2f}x {_range(r['round_ratios']['sklearn']):>11} "
              f"{tr} {_range(r['round_ratios']['torch']):>11} "
              f"{r['gflops']:8.2f} {r['limit_gflops']:7.1f} {100 * r['fraction_of_limit']:5.1f}%"
              f" {r['gemm_floor']:7.3f} {r['over_floor']:7.2f}x"
              f"  {fl['fastmlp']:.5g} | {fl['sklearn']:.5g}" + ("  !" if r.get("starved") else "")
              + ("  ~" if r.get("noisy") else ""))
    if any(r.get("starved") for r in rows):
        print("!: the GEMM probe of this row ran below the one-thread rate: BLAS threads "
              "were waiting for busy cores; do not quote this row (rerun, or --threads 1)")
    if any(r.get("noisy") for r in rows):
        print("~: per-round ratios of this row differ by more than 1.5x: a noisy row; rerun "
              "with more --repeats before quoting it")
    print("limit: engine-BLAS GEMM GFLOP/s on large squares, measured once per round "
          "next to the fits; GFLOP/s counts (6P - 2*n_features*n_hidden1) per sample "
          "per epoch.\nfloor: seconds of the fit's GEMMs alone at their exact shapes "
          "(faster kernel, better thread count); fm/floor: fastmlp's fit time over it.")


# ---------------------------------------------------------------------------
# predict_proba

def section_predict(args, dtypes):
    n_rows = 20_000 if args.quick else 100_000
    spec = dict(WORKLOADS["digits"], epochs=5)
    rows = []
    for dtype in dtypes:
        X, y = make_data(spec, dtype)
        fm = fit_estimator("fastmlp", spec, X, y)
        sk = fit_estimator("sklearn", spec, X, y)
        Xp = np.random.default_rng(SEED).random((n_rows, 64)).astype(dtype)
        # warm-up: one whole chunk, so the kernel choice for it is timed here
        fm.predict_proba(Xp[:8192]), sk.predict_proba(Xp[:100])
        times = {"fastmlp": [], "sklearn": []}
        for _ in range(max(args.repeats, 5)):
            t, pf = timed(fm.predict_proba, Xp)
            times["fastmlp"].append(t)
            t, ps = timed(sk.predict_proba, Xp)
            times["sklearn"].append(t)
        med = {k: median(v) for k, v in times.items()}
        rows.append(dict(dtype=np.dtype(dtype).name, n_rows=n_rows, layers=[64, 100, 10],
                         times=times, median=med,
                         round_ratios=[s / f for s, f in zip(times["sklearn"], times["fastmlp"])],
                         sklearn_over_fastmlp=med["sklearn"] / med["fastmlp"],
                         max_abs_diff=float(np.abs(pf.astype(np.float64) - ps).max())))
    print(f"\n== predict_proba, {n_rows} rows, 64-100-10 (digits, 5 epochs), median of "
          f"{max(args.repeats, 5)} interleaved (ms) ==")
    print(f"{'dtype':8} {'fastmlp':>9} {'sklearn':>9} {'sk/fm':>7} {'[range]':>11} "
          f"{'max|diff|':>10}")
    for r in rows:
        print(f"{r['dtype']:8} {1e3 * r['median']['fastmlp']:9.2f} "
              f"{1e3 * r['median']['sklearn']:9.2f} {r['sklearn_over_fastmlp']:6.2f}x "
              f"{_range(r['round_ratios']):>11} {r['max_abs_diff']:10.1e}")
    return rows


# ---------------------------------------------------------------------------
# Latency: one request at a time

LATENCY_ROWS = (1, 10, 100)


def onnx_session(est, X):
    """An onnxruntime session of fastmlp's own export (fastmlp.to_onnx; the
    classifier without ZipMap: plain label and probability arrays), on one
    thread."""
    import fastmlp
    import onnxruntime as ort

    options = {"zipmap": False} if hasattr(est, "predict_proba") else None
    model = fastmlp.to_onnx(est, X[:1], options=options)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), so,
                                   providers=["CPUExecutionProvider"])
    return session, session.get_inputs()[0].name, [o.name for o in session.get_outputs()]


def latency_calls(fm, sk, ort_run, method, Xr):
    """The three contenders' calls of `method` on the rows Xr, and their
    outputs (checked against each other)."""
    fm_call = getattr(fm, method)
    sk_call = getattr(sk, method)
    return {"fastmlp": lambda: fm_call(Xr), "sklearn": lambda: sk_call(Xr),
            "onnxruntime": ort_run}


def section_latency(args, dtypes):
    """predict / predict_proba on 1, 10 and 100 C-contiguous rows of the
    fitted dtype, one call at a time: fastmlp, scikit-learn and onnxruntime
    (fastmlp's export, one thread), interleaved in blocks of calls; each call
    timed alone, the median per contender."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        log("latency: onnxruntime is not installed (pip install fastmlp[test]); skipped")
        return []
    n_calls = 500 if args.quick else 5000
    block = 100
    dtype = np.float32  # what ONNX models take; the case
    digits = dict(WORKLOADS["digits"], epochs=5)
    X, y = make_data(digits, dtype)
    models = {"classifier": (digits, y),
              "regressor": (dict(digits, data="regression"), y.astype(dtype))}
    rows = []
    for kind, (spec, target) in models.items():
        fm = fit_estimator("fastmlp", spec, X, target)
        sk = fit_estimator("sklearn", spec, X, target)
        session, input_name, output_names = onnx_session(fm, X)
        methods = ["predict_proba", "predict"] if kind == "classifier" else ["predict"]
        for method in methods:
            # the classifier's outputs: label, probabilities
            wanted = ([output_names[1]] if method == "predict_proba" else output_names[:1])
            for n_rows in LATENCY_ROWS:
                Xr = np.ascontiguousarray(X[:n_rows])
                feed = {input_name: Xr}
                calls = latency_calls(fm, sk, lambda: session.run(wanted, feed), method, Xr)
                outputs = {name: np.asarray(call()).reshape(n_rows, -1).astype(np.float64)
                           for name, call in calls.items()}
                times = {name: [] for name in calls}
                perf_counter = time.perf_counter
                for _ in range(n_calls // block):
                    for name, call in calls.items():
                        record = times[name].append
                        for _ in range(block):
                            start = perf_counter()
                            call()
                            record(perf_counter() - start)
                med = {name: median(t) for name, t in times.items()}
                rows.append(dict(
                    model=kind, method=method, n_rows=n_rows, dtype=np.dtype(dtype).name,
                    layers=[64, 100, 10 if kind == "classifier" else 1],
                    calls=n_calls, median=med,
                    sklearn_over_fastmlp=med["sklearn"] / med["fastmlp"],
                    fastmlp_over_onnxruntime=med["fastmlp"] / med["onnxruntime"],
                    max_abs_diff_sklearn=float(np.abs(outputs["fastmlp"] -
                                                      outputs["sklearn"]).max()),
                    max_abs_diff_onnxruntime=float(np.abs(outputs["fastmlp"] -
                                                          outputs["onnxruntime"]).max())))
    print(f"\n== latency: one call at a time, {n_calls} calls each, interleaved in blocks "
          f"of {block}, median per call (µs); float32, 64-100-10 / 64-100-1 (digits) ==")
    print(f"{'model':11} {'method':14} {'rows':>4} {'fastmlp':>8} {'sklearn':>8} "
          f"{'onnxrt':>8} {'sk/fm':>7} {'fm/ort':>7}")
    for r in rows:
        m = r["median"]
        print(f"{r['model']:11} {r['method']:14} {r['n_rows']:4d} {1e6 * m['fastmlp']:8.1f} "
              f"{1e6 * m['sklearn']:8.1f} {1e6 * m['onnxruntime']:8.1f} "
              f"{r['sklearn_over_fastmlp']:6.1f}x {r['fastmlp_over_onnxruntime']:6.2f}x")
    return rows


# ---------------------------------------------------------------------------
# L-BFGS

def section_lbfgs(args, dtypes):
    max_iter = 20 if args.quick else 100
    spec = dict(WORKLOADS["digits"], epochs=max_iter)
    rows = []
    for dtype in dtypes:
        X, y = make_data(spec, dtype)
        fit_estimator("fastmlp", spec, X, y, epochs=2, solver="lbfgs")
        fit_estimator("sklearn", spec, X, y, epochs=2, solver="lbfgs")
        times = {"fastmlp": [], "sklearn": []}
        info = {}
        for _ in range(args.repeats):
            for lib in ("fastmlp", "sklearn"):
                t, est = timed(fit_estimator, lib, spec, X, y, None, "lbfgs")
                times[lib].append(t)
                info[lib] = (est.n_iter_, float(est.loss_))
        med = {k: median(v) for k, v in times.items()}
        rows.append(dict(dtype=np.dtype(dtype).name, max_iter=max_iter, times=times,
                         median=med, sklearn_over_fastmlp=med["sklearn"] / med["fastmlp"],
                         round_ratios=[s / f for s, f in zip(times["sklearn"], times["fastmlp"])],
                         n_iter={k: v[0] for k, v in info.items()},
                         final_loss={k: v[1] for k, v in info.items()}))
    print(f"\n== L-BFGS fit, digits 64-100-10, max_iter={max_iter}, tol=0, median of "
          f"{args.repeats} interleaved (seconds) ==")
    print(f"{'dtype':8} {'fastmlp':>8} {'sklearn':>8} {'sk/fm':>7} {'[range]':>11}  "
          f"n_iter fm|sk   loss fm | sk")
    for r in rows:
        print(f"{r['dtype']:8} {r['median']['fastmlp']:8.3f} {r['median']['sklearn']:8.3f} "
              f"{r['sklearn_over_fastmlp']:6.2f}x {_range(r['round_ratios']):>11}  "
              f"{r['n_iter']['fastmlp']:>5}|"
              f"{r['n_iter']['sklearn']:<5}  {r['final_loss']['fastmlp']:.5g} | "
              f"{r['final_loss']['sklearn']:.5g}")
    return rows


# ---------------------------------------------------------------------------
# Peak memory, one subprocess per measurement

def _proc_status_kib(field):
    """VmRSS / VmHWM of this process from /proc/self/status, in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_child(argv):
    """Child: import both libraries, load X, y from .npy, then (unless the
    library is 'baseline') fit.  Prints, in KiB: the process's peak RSS
    (VmHWM) at the end; RSS just before fit; the peak during fit alone (VmHWM
    reset just before fit, where the kernel allows it); and ru_maxrss."""
    import resource

    lib, xpath, ypath, spec_json = argv
    spec = json.loads(spec_json)
    spec["hidden"] = tuple(spec["hidden"])
    import fastmlp  # noqa: F401  (same imports in every child)
    import sklearn.neural_network  # noqa: F401

    X = np.load(xpath)
    y = np.load(ypath)
    gc.collect()
    rss_before = _proc_status_kib("VmRSS")
    hwm_before = _proc_status_kib("VmHWM")
    reset = False
    if lib != "baseline":
        reset = _reset_peak()
        fit_estimator(lib, spec, X, y)
    hwm = _proc_status_kib("VmHWM")
    print(json.dumps(dict(
        rss_before_fit_kib=rss_before, hwm_before_fit_kib=hwm_before,
        fit_peak_kib=hwm if reset else None, hwm_kib=max(hwm, hwm_before),
        ru_maxrss_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))


def run_memory_child(lib, xpath, ypath, spec, threads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--_memory-child",
                          lib, xpath, ypath, json.dumps(spec)],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def section_memory(args, threads):
    big = 50_000 if args.quick else 200_000
    cases = [
        ("tabular 50k x 20", dict(WORKLOADS["tabular"], epochs=2), np.float64),
        (f"{big // 1000}k x 100", dict(data="classification", n_samples=big, n_features=100,
                                       n_classes=2, hidden=(100,), batch=200, epochs=1),
         np.float64),
        (f"{big // 1000}k x 100", dict(data="classification", n_samples=big, n_features=100,
                                       n_classes=2, hidden=(100,), batch=200, epochs=1),
         np.float32),
        # needs one layout conversion (Fortran -> C order) in fastmlp
        (f"{big // 1000}k x 100 F-order", dict(data="classification", n_samples=big,
                                               n_features=100, n_classes=2, hidden=(100,),
                                               batch=200, epochs=1, order="F"), np.float64),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, spec, dtype in cases:
            X, y = make_data(spec, dtype)
            if spec.get("order") == "F":
                X = np.asfortranarray(X)
            xpath, ypath = os.path.join(tmp, "X.npy"), os.path.join(tmp, "y.npy")
            np.save(xpath, X)
            np.save(ypath, y)
            log(f"memory {label} {np.dtype(dtype).name}")
            res = {lib: run_memory_child(lib, xpath, ypath, spec, threads)
                   for lib in ("baseline", "fastmlp", "sklearn")}
            base = res["baseline"]["hwm_kib"]
            row = dict(case=label, dtype=np.dtype(dtype).name, layers=layer_sizes(spec),
                       epochs=spec["epochs"], x_mib=X.nbytes / 2 ** 20, raw=res,
                       baseline_peak_mib=base / 1024)
            for lib in ("fastmlp", "sklearn"):
                r = res[lib]
                row[f"{lib}_extra_mib"] = (r["hwm_kib"] - base) / 1024
                row[f"{lib}_fit_peak_over_start_mib"] = (
                    None if r["fit_peak_kib"] is None
                    else (r["fit_peak_kib"] - r["rss_before_fit_kib"]) / 1024)
            rows.append(row)
    print("\n== peak memory of fit (VmHWM, one subprocess each, MiB): extra = fit process "
          "peak - baseline process peak (same imports, data loaded, no fit); in-fit = peak "
          "during fit - RSS when fit starts ==")
    print(f"{'case':24} {'dtype':8} {'X':>7} {'baseline':>9} {'fastmlp +':>10} "
          f"{'sklearn +':>10} {'in-fit fm':>10} {'in-fit sk':>10}")

    def fmt(v):
        return f"{v:10.1f}" if v is not None else f"{'-':>10}"

    for r in rows:
        print(f"{r['case']:24} {r['dtype']:8} {r['x_mib']:7.1f} {r['baseline_peak_mib']:9.1f} "
              f"{r['fastmlp_extra_mib']:10.1f} {r['sklearn_extra_mib']:10.1f} "
              f"{fmt(r['fastmlp_fit_peak_over_start_mib'])} "
              f"{fmt(r['sklearn_fit_peak_over_start_mib'])}")
    return rows


# ---------------------------------------------------------------------------
# Time per epoch against n_samples

def section_scaling(args, dtypes):
    """Two timings per size: the whole fit divided by its epochs (what a user
    sees, fixed setup included), and the marginal epoch, (fit of 1+E epochs -
    fit of 1 epoch) / E, which leaves out per-fit setup."""
    base = 10_000 if args.quick else 50_000
    epochs = 2 if args.quick else 4
    mults = (1, 4, 16)
    spec0 = dict(WORKLOADS["tabular"], n_samples=base * mults[-1])
    rows = []
    for dtype in dtypes:
        X, y = make_data(spec0, dtype)
        fit_estimator("fastmlp", spec0, X[:1000], y[:1000], epochs=1)
        times = {(m, e): [] for m in mults for e in (1, 1 + epochs)}
        for _ in range(args.repeats):
            for m in mults:
                n = base * m
                for e in (1, 1 + epochs):
                    t, _ = timed(fit_estimator, "fastmlp", spec0, X[:n], y[:n], e)
                    times[(m, e)].append(t)
        fit_per = {m: median(times[(m, 1 + epochs)]) / (1 + epochs) for m in mults}
        marg = {m: (median(times[(m, 1 + epochs)]) - median(times[(m, 1)])) / epochs
                for m in mults}
        for m in mults:
            n = base * m
            rows.append(dict(dtype=np.dtype(dtype).name, multiple=m, n_samples=n,
                             epochs=1 + epochs,
                             times_1_epoch=times[(m, 1)], times_n_epochs=times[(m, 1 + epochs)],
                             fit_seconds_per_epoch=fit_per[m],
                             marginal_seconds_per_epoch=marg[m],
                             fit_us_per_sample_epoch=1e6 * fit_per[m] / n,
                             marginal_us_per_sample_epoch=1e6 * marg[m] / n,
                             fit_relative_to_1x=(fit_per[m] / n) / (fit_per[1] / base),
                             marginal_relative_to_1x=(marg[m] / n) / (marg[1] / base)))
    print(f"\n== fastmlp time per epoch vs n_samples (tabular 20-32-32-1, batch 200), median "
          f"of {args.repeats} interleaved; fit = whole fit of {1 + epochs} epochs / "
          f"{1 + epochs}; marginal = (fit {1 + epochs} epochs - fit 1 epoch) / {epochs} ==")
    print(f"{'dtype':8} {'samples':>9} {'fit s/ep':>9} {'us/sample':>10} {'vs 1x':>6}   "
          f"{'marg s/ep':>9} {'us/sample':>10} {'vs 1x':>6}")
    for r in rows:
        print(f"{r['dtype']:8} {r['n_samples']:9} {r['fit_seconds_per_epoch']:9.4f} "
              f"{r['fit_us_per_sample_epoch']:10.3f} {r['fit_relative_to_1x']:5.2f}x   "
              f"{r['marginal_seconds_per_epoch']:9.4f} {r['marginal_us_per_sample_epoch']:10.3f} "
              f"{r['marginal_relative_to_1x']:5.2f}x")
    print("linear in n_samples: 'vs 1x' (time per sample per epoch relative to the smallest) "
          "= 1.00; target within 0.85-1.15")
    return rows


# ---------------------------------------------------------------------------

def machine_info(threads, torch):
    import fastmlp
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    from fastmlp import _engine, _kernel_choice

    info = dict(python=platform.python_version(), platform=platform.platform(),
                cpu_count=os.cpu_count(), threads=threads,
                numpy=np.__version__, scipy=scipy.__version__, sklearn=sklearn.__version__,
                fastmlp=fastmlp.__version__,
                torch=torch.__version__ if torch is not None else None,
                blas=[dict(api=d.get("internal_api"), threads=d.get("num_threads"),
                           arch=d.get("architecture"), lib=os.path.basename(d["filepath"]))
                      for d in threadpool_info()],
                engine_simd=_engine.gemm_isa(),
                openblas_coretype_env=os.environ.get("OPENBLAS_CORETYPE"),
                engine_blas=engine_blas(),
                kernel_cache=_kernel_choice.cache_path(),
                loadavg_start=os.getloadavg(),
                time=time.strftime("%Y-%m-%d %H:%M:%S"))
    info["cpu"] = _kernel_choice.cpu_model()
    return info


def engine_blas():
    """threadpoolctl's record of the BLAS the engine calls (SciPy's OpenBLAS):
    its version, core type (architecture) and thread count."""
    from threadpoolctl import threadpool_info

    from fastmlp import _engine  # noqa: F401  (loads scipy's OpenBLAS)
    blas = [d for d in threadpool_info() if d.get("user_api") == "blas"]
    for d in blas:
        if "scipy_openblas-" in os.path.basename(d["filepath"]) or \
                "scipy.libs" in d["filepath"]:
            return d
    return blas[0] if blas else {}


def engine_blas_threads():
    return engine_blas().get("num_threads", 1)


def print_kernel_choices(report):
    """How many products of each kind went to each kernel in this run."""
    counts = {}
    for c in report["choices"]:
        key = (c["dtype"], c["product"])
        counts.setdefault(key, {"blas": 0, "own": 0})[c["kernel"]] += 1
    print("\n== kernel choices made in this run (shapes timed: blas / own) ==")
    for (dtype, product), n in sorted(counts.items()):
        print(f"{dtype:8} {product:12} {n['blas']:3d} / {n['own']:3d}")
    print("\n== network plans (per layer: forward, weight grad, input grad; b: BLAS, o: own;"
          " a step's time with the seed plan -> the plan kept) ==")
    for p in report["plans"]:
        seconds = p["seconds"]
        timing = (f"{seconds['seed'] * 1e6:9.1f} -> {seconds['chosen'] * 1e6:9.1f} us"
                  if seconds else "")
        print(f"{p['network']:48} {p['plan']:24} {timing}  {p['source']}")


def to_jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--_memory-child":
        memory_child(sys.argv[2:])
        return
    sections_all = ["fit", "predict", "latency", "lbfgs", "memory", "scaling"]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--quick", action="store_true",
                   help="scaled-down workloads: a smoke test, not a measurement")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help=f"comma-separated subset of {','.join(WORKLOADS)}")
    p.add_argument("--sections", default=",".join(sections_all),
                   help=f"comma-separated subset of {','.join(sections_all)} "
                        f"(the GEMM rate is always measured)")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS and torch threads (default: the engine BLAS's current count)")
    p.add_argument("--torch-adam", choices=["default", "foreach", "fused"], default="default",
                   help="torch.optim.Adam implementation (default: torch's own choice)")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--json", help="write all results to this JSON file")
    p.add_argument("--kernel-cache", default=None,
                   help="fastmlp's kernel-choice cache file (default: a new one for this "
                        "run, so the choices are timed here, before the timed rounds)")
    args = p.parse_args()
    args.workloads = [w for w in args.workloads.split(",") if w]
    for w in args.workloads:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r}; choose from {','.join(WORKLOADS)}")
    sections = [s for s in args.sections.split(",") if s]
    for s in sections:
        if s not in sections_all + ["gemm"]:
            p.error(f"unknown section {s!r}")
    dtypes = [np.dtype(d).type for d in args.dtypes.split(",")]
    if args.repeats < 1:
        p.error("--repeats must be >= 1")

    from threadpoolctl import threadpool_limits

    kernel_cache_dir = None
    if args.kernel_cache is None:
        kernel_cache_dir = tempfile.TemporaryDirectory(prefix="fastmlp-kernels-")
        args.kernel_cache = os.path.join(kernel_cache_dir.name, "kernels.json")
    os.environ["FASTMLP_KERNEL_CACHE"] = args.kernel_cache
    torch = None if args.no_torch else import_torch()
    threads = args.threads if args.threads is not None else engine_blas_threads()
    args.threads_used = threads
    if torch is not None:
        torch.set_num_threads(threads)
    results = dict(meta=machine_info(threads, torch))
    results["meta"].update(quick=args.quick, repeats=args.repeats, sections=sections,
                           torch_adam=args.torch_adam)
    m = results["meta"]
    print(f"fastmlp {m['fastmlp']} | scikit-learn {m['sklearn']} | torch {m['torch']} | "
          f"numpy {m['numpy']} | {m.get('cpu', '?')}, {m['cpu_count']} CPUs | "
          f"{threads} BLAS/torch thread(s) | load avg {m['loadavg_start'][0]:.2f}"
          + (" | QUICK (smoke test)" if args.quick else ""))
    blas = m["engine_blas"]
    print(f"engine SIMD {m['engine_simd']} | engine BLAS {blas.get('internal_api')} "
          f"{blas.get('version')}, core type {blas.get('architecture')} "
          f"(OPENBLAS_CORETYPE={m['openblas_coretype_env'] or 'unset'}), "
          f"{blas.get('num_threads')} thread(s) | kernel choices: {args.kernel_cache}")

    t0 = time.perf_counter()
    with threadpool_limits(limits=threads):
        results["gemm"] = section_gemm(args, dtypes, threads)
        if "fit" in sections:
            results["fit"] = section_fit(args, dtypes, torch, results["gemm"])
        if "predict" in sections:
            results["predict"] = section_predict(args, dtypes)
        if "latency" in sections:
            results["latency"] = section_latency(args, dtypes)
        if "lbfgs" in sections:
            results["lbfgs"] = section_lbfgs(args, dtypes)
        if "scaling" in sections:
            results["scaling"] = section_scaling(args, dtypes)
    if "memory" in sections:
        results["memory"] = section_memory(args, threads)  # children: same thread count
    from fastmlp import _kernel_choice

    results["kernel_choices"] = _kernel_choice.report()
    print_kernel_choices(results["kernel_choices"])
    results["meta"]["loadavg_end"] = os.getloadavg()
    results["meta"]["wall_seconds"] = time.perf_counter() - t0
    print(f"\ntotal {results['meta']['wall_seconds']:.0f} s; load avg "
          f"{m['loadavg_start'][0]:.2f} -> {results['meta']['loadavg_end'][0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(to_jsonable(results), f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
