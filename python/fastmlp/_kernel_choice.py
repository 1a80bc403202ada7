"""Which kernel computes each product of a network: the faster one here.

Each dense layer's training step makes three matrix products: the forward
pass, the weight gradient and the input gradient (prediction makes the
first only).  The engine computes each with the BLAS (SciPy's OpenBLAS) or
with its own register-blocked kernel (``csrc/gemm.c``).  Which is faster
depends on the CPU, on the BLAS's build, core type and thread count, and on
the shape: the engine's kernel wins on small products, where the BLAS's
packing and thread wake-ups cost more than the arithmetic, and loses on
large ones on some machines but not others.  No fixed rule holds on every
CPU, so fastmlp times both kernels on the running machine the first time it
meets a product, and follows the faster.

The two kernels sum in different orders, so the choice decides the last
bits of a result.  A choice, once made, is therefore kept: for the process,
and in a cache file that every process on the machine reads (FFTW calls its
equivalent "wisdom").  The same arguments and ``random_state`` then give
bit-identical models run after run.  The file keeps the choices of each
machine configuration apart: the CPU model, the engine's instruction set and
each BLAS library with its version, core type and thread count.  Changing
any of these (``OPENBLAS_CORETYPE``, ``threadpoolctl`` limits) makes new
choices, as it should.

Rows are rounded up to a power of two, and a choice is timed at that size:
a mini-batch of 200 rows uses the choice timed at 256, so a handful of
timings cover every batch and chunk size.  (The last, partial batch of an
epoch follows the plan of the full ones: a plan is made per call.)

A product timed alone is not a product in a training step: there, the
BLAS's threads may have gone to sleep, or compete for the cores with the
engine's own workers, between two calls, and a product that the BLAS wins
in a tight loop can cost it twice as much in a step (measured on a 2-core
AMD EPYC: a 7-layer network of width 64 trained 1.9x slower on the plan
its products chose alone).  So the per-product choices are only the
starting point ("seed") of a network's plan.  Where the two kernels came
within CONTESTED of each other, a few plans that differ in those products
are timed as whole training steps (or prediction calls) of the real
network on synthetic data (StepTimer); then whether the engine's own
threads share the step's parallel work (the optimizer's update, the
prediction's chunks: the same bits either way), in longer samples, since
the cost of two thread pools on the same cores (the engine's and the
BLAS's, each spinning while it waits) builds up over tens of steps and
reached 1.4-1.8x a step's time on that machine.  The fastest plan is kept,
in the process and in the cache file, per network shape; the seed is
timed beside it, so tuning never keeps a plan slower than the seed as
timed.  It costs a fraction of a second, once per network shape, dtype
and batch size (rounded as below) on a machine.

Environment:

``FASTMLP_GEMM``
    ``blas`` or ``own``: that kernel for every product, nothing timed.
``FASTMLP_KERNEL_CACHE``
    The cache file (default ``$XDG_CACHE_HOME/fastmlp/kernels.json``, else
    ``~/.cache/fastmlp/kernels.json``); ``off`` keeps the choices in the
    process only (two processes may then choose differently).
"""

import functools
import json
import math
import os
import platform
import threading
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.sparse

# bound here, not looked up at each call: a caller that wraps _engine's
# functions (a test recording the calls of a fit) sees no timing steps
from fastmlp._engine import GEMM_KERNELS as KERNELS
from fastmlp._engine import (DEFAULT_CHUNK_ROWS, PRODUCTS, Optimizer, gemm_isa, predict,
                             train_epoch, workspace)
from fastmlp._resources import blas_controllers

try:
    import fcntl
except ImportError:  # no file locks: the cache is still used, unlocked
    fcntl = None

# A product whose timing buffers would take more memory than this is left
# to the BLAS untimed: timing it would cost more than any choice could save,
# and large products are what the BLAS's cache blocking is built for.
_TIMING_BYTES_MAX = 256 * 2**20

# Products whose two kernels timed alone within this factor of each other
# are a close call, settled by timing whole steps (_tune); beyond it, the
# faster alone is taken as the faster in a step too.
CONTESTED = 2.5

# 2: products and network plans in separate sections (1: products only;
# such a file is read as empty and rewritten)
_CACHE_FORMAT = 2


@dataclass(frozen=True)
class Choice:
    kernel: str  # one of KERNELS
    source: str  # "measured", "cache file" or why nothing was timed
    seconds: Optional[dict] = None  # kernel -> seconds per call, when measured here


@dataclass(frozen=True)
class Tuning:
    plan: bytes  # one KERNELS index per (layer, product), then one THREADS index
    source: str  # "tuned", "cache file" or why the seed was kept untimed
    seconds: Optional[dict] = None  # "seed" / "chosen" -> seconds per step, when tuned here


_lock = threading.Lock()
_known = {}  # (machine signature, shape key) -> Choice
_tuned = {}  # (machine signature, network key) -> Tuning
_cache_problem = None  # why the cache file could not be used, if it could not


def forget():
    """Drop this process's choices and plans (the cache file stays)."""
    global _cache_problem
    with _lock:
        _known.clear()
        _tuned.clear()
        _cache_problem = None


@functools.lru_cache(maxsize=1)
def cpu_model():
    """The CPU's model name, as the operating system reports it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


@functools.lru_cache(maxsize=1)
def _fixed_signature():
    """The parts of machine_signature that cannot change in a process (the
    BLAS's version and core type are read once: threadpoolctl parses them
    from strings on every access)."""
    return cpu_model(), gemm_isa(), tuple(
        f"{c.internal_api} {c.version} {c.architecture}" for c in blas_controllers())


def machine_signature():
    """What the kernels' speed depends on besides the shape: the CPU, the
    engine's instruction set, and each BLAS with its version, core type and
    current thread count."""
    cpu, isa, libraries = _fixed_signature()
    # sorted: threadpoolctl lists the libraries in the order they were loaded
    blas = "; ".join(sorted(f"{library} {c.num_threads} threads {os.path.basename(c.filepath)}"
                            for library, c in zip(libraries, blas_controllers())))
    return f"{cpu} | engine {isa} | {blas}"


def cache_path():
    """The cache file, or None when FASTMLP_KERNEL_CACHE is 'off'."""
    configured = os.environ.get("FASTMLP_KERNEL_CACHE", "")
    if configured == "off":
        return None
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fastmlp", "kernels.json")


def forced_kernel(kernel=None):
    """The kernel for every product (the argument, else FASTMLP_GEMM), or
    None to choose per product by timing."""
    kernel = kernel or os.environ.get("FASTMLP_GEMM") or None
    if kernel not in (None, *KERNELS):
        raise ValueError(f"FASTMLP_GEMM must be 'blas' or 'own', got {kernel!r}")
    return kernel


def rows_bucket(n_rows):
    """n_rows rounded up to a power of two."""
    return 1 << max(int(n_rows) - 1, 0).bit_length()


def _shape_key(dtype, product, n_rows, fan_in, fan_out):
    return f"{dtype} {product} {n_rows}x{fan_in}x{fan_out}"


def _network_key(dtype, training, dense, n_rows, layer_sizes):
    kind = "train" if training else "predict"
    sizes = "-".join(str(int(n)) for n in layer_sizes)
    return f"{dtype} {kind} {'dense' if dense else 'csr'} {n_rows} {sizes}"


def _parse_network_key(key):
    dtype, kind, _, n_rows, sizes = key.split(" ")
    return dtype, kind, int(n_rows), sizes


# A plan's last entry: the engine's threads in the call (its optimizer
# update, its prediction chunks); either gives the same bits.
THREADS = ("1", "n")  # one thread, or the network's n_threads


def plan_text(plan_bytes):
    """A plan as text: per layer, one letter per product (b: BLAS, o: own),
    then the engine's threads (1 or n): 'bbb/bob/n'."""
    letters = "".join(KERNELS[k][0] for k in plan_bytes[:-1])
    n = len(PRODUCTS)
    return "/".join([letters[i:i + n] for i in range(0, len(letters), n)]
                    + [THREADS[plan_bytes[-1]]])


def _parse_plan_text(text, n_entries):
    """plan_text's inverse; None for text that is not a plan of n_entries
    products."""
    if not isinstance(text, str) or "/" not in text:
        return None
    products, _, threads = text.rpartition("/")
    initials = {k[0]: i for i, k in enumerate(KERNELS)}
    letters = products.replace("/", "")
    if (len(letters) != n_entries or any(c not in initials for c in letters)
            or threads not in THREADS):
        return None
    return bytes([initials[c] for c in letters] + [THREADS.index(threads)])


def _parse_shape_key(key):
    dtype, product, shape = key.split(" ")
    n_rows, fan_in, fan_out = (int(v) for v in shape.split("x"))
    return dtype, product, n_rows, fan_in, fan_out


def _products(layer_sizes, training, dense):
    """(layer, product, fan_in, fan_out) of each product a call makes with
    a dense kernel: not the first layer's of a CSR input (it has its own),
    nor its input gradient (never needed)."""
    for layer, (fan_in, fan_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:])):
        if layer == 0 and not dense:
            continue
        yield layer, "forward", fan_in, fan_out
        if training:
            yield layer, "weight_grad", fan_in, fan_out
            if layer > 0:
                yield layer, "input_grad", fan_in, fan_out


def plan(layer_sizes, dtype, n_rows, *, training, dense, kernel, time_product,
         time_plans=None):
    """The engine's plan for calls of up to n_rows rows: bytes, one
    KERNELS index per (layer, product), len(PRODUCTS) per layer, then one
    THREADS index (the engine's threads in the call).

    kernel: 'blas' or 'own' for all products, or None to choose by timing,
    unless FASTMLP_GEMM forces one: each product alone first
    (time_product(dtype, product, n_rows, fan_in, fan_out) -> seconds per
    kernel), then, when time_plans is given, the close calls in whole steps
    (time_plans(list of plans, long=bool) -> seconds per step of each, see
    _tune)."""
    n_entries = len(PRODUCTS) * (len(layer_sizes) - 1)
    forced = forced_kernel(kernel)
    if forced is not None:
        return bytes([KERNELS.index(forced)]) * n_entries + bytes([THREADS.index("n")])
    dtype = np.dtype(dtype).name
    rows = rows_bucket(n_rows)
    signature = machine_signature()
    network_key = _network_key(dtype, training, dense, rows, layer_sizes)
    tuning = _tuned.get((signature, network_key))
    if tuning is not None:  # the common case: no lock, nothing to compute
        return tuning.plan
    products = list(_products(layer_sizes, training, dense))
    keys = [_shape_key(dtype, product, rows, fan_in, fan_out)
            for _, product, fan_in, fan_out in products]
    with _lock:
        tuning = _tuned.get((signature, network_key))
        if tuning is None:
            with _CacheFile(signature) as stored:
                tuning = _plan_from_file(stored, network_key, n_entries)
                if tuning is None:
                    chosen = _choose(stored, keys, time_product)
                    # the BLAS where no choice applies; the network's threads
                    seed = bytearray(n_entries) + bytes([THREADS.index("n")])
                    for (layer, product, _, _), choice in zip(products, chosen):
                        seed[layer * len(PRODUCTS) + PRODUCTS.index(product)] = \
                            KERNELS.index(choice.kernel)
                    tuning = _tune(bytes(seed), products, chosen, time_plans)
                    stored.networks[network_key] = plan_text(tuning.plan)
                    stored.changed = True
            _tuned[signature, network_key] = tuning
    return tuning.plan


def _plan_from_file(stored, network_key, n_entries):
    """The network's plan as the cache file holds it, or None."""
    found = _parse_plan_text(stored.networks.get(network_key), n_entries)
    return None if found is None else Tuning(found, "cache file")


def _choose(stored, keys, time_product):
    """The Choice of each shape key: known in this process, else read from
    the cache file `stored`, else timed now (and written to the file)."""
    signature = stored.signature
    for key in dict.fromkeys(keys):
        if (signature, key) in _known:
            continue
        if key in stored.products:
            kernel, seconds = stored.products[key]
            _known[signature, key] = Choice(kernel, "cache file", seconds)
            continue
        choice = _measure(key, time_product)
        _known[signature, key] = choice
        stored.products[key] = choice.kernel, choice.seconds
        stored.changed = True
    return [_known[signature, k] for k in keys]


def _tune(seed, products, choices, time_plans):
    """The fastest of a few plans around `seed`, timed as whole steps.

    The products that vary are the contested ones (both kernels timed alone
    within CONTESTED of each other); products of the same shape in several
    layers move together.  The engine's threads vary too: its pool saves
    time on a long update vector or many prediction chunks, and can cost
    more than it saves where its threads and the BLAS's compete for the
    cores, which shows only over many steps (measured on a 2-core AMD EPYC,
    a 7-layer network of width 64: the same per step as one thread over 4
    steps, 1.65x slower over 70).  Timed in turns:

    1. the kernels, on one engine thread, in short samples: the seed and
       the plans that give the BLAS the k largest contested shapes and the
       engine's kernel the rest (k = 0 .. all); then the best of those
       against each of its single changes;
    2. unless time_plans.threads_matter is false (calls of one chunk,
       which run on one thread whatever the plan says),
       the threads, in long samples (time_plans(..., long=True)): that
       plan on one thread and on the network's threads, the engine's kernel
       for every close call on the network's threads (prediction runs
       chunks in parallel only when the engine's kernel computes every
       product), and the seed as it was (the network's threads).

    A plan is timed once per kind of sample (the best so far again in each
    round, in the same turns as the new ones); the plan timed fastest in
    2 is kept."""
    if time_plans is None:
        return Tuning(seed, "seed (no step timing)")
    groups = {}  # (product, fan_in, fan_out) -> plan indices
    for (layer, product, fan_in, fan_out), choice in zip(products, choices):
        seconds = choice.seconds
        if seconds and max(seconds.values()) < CONTESTED * min(seconds.values()):
            groups.setdefault((product, fan_in, fan_out), []).append(
                layer * len(PRODUCTS) + PRODUCTS.index(product))
    blas, own = KERNELS.index("blas"), KERNELS.index("own")

    def assign(plan_bytes, shapes, kernel):
        out = bytearray(plan_bytes)
        for shape in shapes:
            for i in groups[shape]:
                out[i] = kernel
        return bytes(out)

    def with_threads(plan_bytes, threads):
        return plan_bytes[:-1] + bytes([THREADS.index(threads)])

    timed = {False: {}, True: {}}  # long samples? -> plan -> its fastest step

    def fastest(best, others, long=False):
        """The fastest of best and others, timing best (again) and the
        others not timed yet."""
        known = timed[long]
        candidates = [best] + [p for p in dict.fromkeys(others) if p not in known and p != best]
        if len(candidates) > 1:
            for plan_bytes, seconds in zip(candidates, time_plans(candidates, long=long)):
                known[plan_bytes] = min(seconds, known.get(plan_bytes, seconds))
        return min(candidates, key=known.__getitem__)

    largest_first = sorted(groups, key=lambda g: (-g[1] * g[2], g))
    try:
        best = with_threads(seed, "1")
        if groups:
            best = fastest(best, [assign(assign(best, largest_first[:k], blas),
                                         largest_first[k:], own)
                                  for k in range(len(largest_first) + 1)])
            best = fastest(best, [assign(best, [g], own if best[groups[g][0]] == blas else blas)
                                  for g in largest_first])
        if not getattr(time_plans, "threads_matter", True):
            # calls of one chunk, on one thread whatever the plan says
            if not groups:
                return Tuning(seed, "seed (no close call)")
            seconds = {"seed": timed[False][with_threads(seed, "1")], "chosen": timed[False][best]}
            return Tuning(with_threads(best, "n"), "tuned", seconds)
        # the engine's kernel on every close call, with its threads: the
        # plan whose prediction chunks run in parallel (one thread each)
        own_threads = with_threads(assign(best, largest_first, own), "n")
        best = fastest(best, [with_threads(best, "n"), own_threads, seed], long=True)
    except TimingSkipped as exc:
        return Tuning(seed, f"seed ({exc})")
    except (MemoryError, ValueError, ArithmeticError) as exc:
        return Tuning(seed, f"seed (step timing failed: {exc})")
    return Tuning(best, "tuned", {"seed": timed[True][seed], "chosen": timed[True][best]})


def _timing_bytes(dtype, n_rows, fan_in, fan_out):
    """Memory fm_time_product takes for a product (its buffers)."""
    inp, weight, dout = n_rows * fan_in, fan_in * fan_out, n_rows * fan_out
    return np.dtype(dtype).itemsize * (inp + 2 * weight + dout + max(inp, weight, dout) + fan_out)


def _measure(key, time_product):
    dtype, product, n_rows, fan_in, fan_out = _parse_shape_key(key)
    if _timing_bytes(dtype, n_rows, fan_in, fan_out) > _TIMING_BYTES_MAX:
        return Choice("blas", "too large to time")
    try:
        seconds = time_product(dtype, product, n_rows, fan_in, fan_out)
    except MemoryError:
        return Choice("blas", "no memory to time")
    kernel = "own" if seconds["own"] < seconds["blas"] else "blas"
    return Choice(kernel, "measured", seconds)


class TimingSkipped(Exception):
    """Raised by a time_plans callable that will not time these steps (too
    large, too slow): the seed plan is kept, with the reason."""


class StepTimer:
    """time_plans for _tune: the seconds a step of `network` takes with each
    plan (in short or long samples: `long`).  A training step is one
    mini-batch of n_rows through the engine's train_epoch (forward,
    backward, Adam's update).  A prediction step is one predict call: of
    two chunks of n_rows per thread when n_rows is a whole chunk (the
    engine runs chunks in parallel when its own kernel does every product),
    else of one chunk, where the threads do not matter.
    The data are synthetic (the kernels' speed does not depend on the
    values; a CSR input has a tenth of its entries), the weights drawn at
    scikit-learn's initial scale (so that nothing decays to subnormal
    numbers); the network is the real one: its layers, activations,
    dropout, batch norm and thread count.  Buffers are made on the first
    call."""

    # each timing sample runs at least this long, or this many steps: short
    # samples, or long ones (the threads' interplay builds up over steps)
    SAMPLE = {False: (1e-3, 256), True: (2e-2, 64)}
    ROUNDS = 3  # samples of each plan, taken in turns; the fastest counts...
    LONG_STEP_SECONDS = 4e-3  # ...but 2 when one step or one sample is long
    # Steps longer than this are not timed (the seed is kept): tens of
    # them would cost seconds, and such products are large, where the
    # products' own timing is reliable.
    MAX_STEP_SECONDS = 0.05
    _BYTES_MAX = 64 * 2**20  # the synthetic input, at most (more chunks if it allows)

    def __init__(self, network, dtype, n_rows, training, dense=True):
        self.network = network
        self.dtype = np.dtype(dtype)
        self.n_rows = int(n_rows)
        self.training = bool(training)
        self.dense = bool(dense)
        # a prediction of fewer rows than a chunk is one chunk
        self.threads_matter = self.training or self.n_rows >= DEFAULT_CHUNK_ROWS
        self._buffers = None

    def _setup(self):
        net, dtype, rows = self.network, self.dtype, self.n_rows
        row_bytes = net.layer_sizes[0] * dtype.itemsize
        if rows * row_bytes + net.n_params * dtype.itemsize * 4 > self._BYTES_MAX:
            raise TimingSkipped("steps too large to time")
        rng = np.random.default_rng(0)
        n_x = rows
        if not self.training and self.threads_matter:
            chunks = 2 * max(net.n_threads, 1)
            if chunks * rows * row_bytes <= self._BYTES_MAX:
                n_x = chunks * rows
        X = rng.standard_normal((n_x, net.layer_sizes[0])).astype(dtype)
        if not self.dense:
            X = scipy.sparse.csr_matrix(np.where(rng.random(X.shape) < 0.1, X, 0))
        start = np.zeros(net.n_params, dtype)
        for first, stop, (fan_in, fan_out) in net.coef_slices():
            bound = math.sqrt(6 / (fan_in + fan_out))
            start[first:stop] = rng.uniform(-bound, bound, stop - first)
        for layer, first in enumerate(net.batch_norm_slices()):
            if first is not None:  # scales of 1 (their shifts follow, 0)
                start[first:first + net.layer_sizes[layer + 1]] = 1
        b = {"X": X, "start": start, "workspace": workspace(net, dtype, rows, self.dense)}
        b["params"] = b["start"].copy()
        if self.training:
            b["y"] = rng.random((rows, net.n_outputs)).astype(dtype)
            b["optimizer"] = Optimizer("adam", net.n_params, dtype)
            units = net.batch_norm_units
            b["running_stats"] = np.concatenate([np.zeros(units), np.ones(units)]).astype(dtype)
        else:
            b["out"] = np.empty((n_x, net.n_outputs), dtype)
        return b

    def _seconds(self, plan, n_steps):
        b, net = self._buffers, self.network
        b["params"][:] = b["start"]
        if self.training:
            order = np.tile(np.arange(self.n_rows, dtype=np.int64), n_steps)
            start = time.perf_counter()
            train_epoch(net, b["params"], b["optimizer"], b["X"], b["y"], None, order,
                        self.n_rows, b["workspace"], 0, b["running_stats"], gemm_plan=plan)
            return time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(n_steps):
            predict(net, b["params"], b["X"], b["out"], self.n_rows, b["workspace"],
                    gemm_plan=plan)
        return time.perf_counter() - start

    def __call__(self, plans, long=False):
        if not self.training and self.network.batch_norm_units:
            raise ValueError("prediction steps take a network without batch norm")
        if self._buffers is None:
            self._buffers = self._setup()
            self._seconds(plans[0], 1)  # first touches of the buffers, thread start-up
        one_step = self._seconds(plans[0], 1)
        if one_step > self.MAX_STEP_SECONDS:
            raise TimingSkipped(f"steps too slow to time ({one_step:.2f} s)")
        sample_seconds, max_steps = self.SAMPLE[bool(long)]
        n_steps = min(max_steps, max(1, math.ceil(sample_seconds / max(one_step, 1e-9))))
        best = [math.inf] * len(plans)
        for _ in range(2 if long or one_step >= self.LONG_STEP_SECONDS else self.ROUNDS):
            for i, plan in enumerate(plans):
                best[i] = min(best[i], self._seconds(plan, n_steps) / n_steps)
        return best


def _read_product(item):
    """(shape key, (kernel, seconds or None)) from a cache file's item, or
    None for an item this version cannot read."""
    key, value = item
    if not isinstance(value, dict) or value.get("kernel") not in KERNELS:
        return None
    seconds = value.get("seconds")
    valid = (isinstance(seconds, dict) and set(seconds) == set(KERNELS)
             and all(isinstance(v, (int, float)) and v > 0 for v in seconds.values()))
    return key, (value["kernel"], dict(seconds) if valid else None)


class _CacheFile:
    """The cache file's entries for one machine signature (`products`: shape
    key -> (kernel, seconds per kernel or None); `networks`: network key ->
    plan_text), read and (when
    `changed`) written back under an exclusive lock, so that processes
    starting together agree: the second waits, then reads the first's
    choices.  Without a usable file, the entries start empty and stay in
    memory (the reason is kept for show_config)."""

    def __init__(self, signature):
        self.signature = signature
        self.products = {}
        self.networks = {}
        self.changed = False
        self._data = {"format": _CACHE_FORMAT, "machines": {}}
        self._path = None
        self._lock_file = None

    def __enter__(self):
        global _cache_problem
        path = cache_path()
        if path is None:
            return self
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self._lock_file = open(path + ".lock", "a")
            if fcntl is not None:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX)
            self._path = path
        except OSError as exc:
            _cache_problem = f"{path}: {exc.strerror or exc}"
            self._release()
            return self
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            if isinstance(data, dict) and data.get("format") == _CACHE_FORMAT:
                self._data = data
        except (OSError, ValueError):
            pass  # no file yet, or a damaged one: it is rewritten
        machines = self._data.setdefault("machines", {})
        stored = machines.get(self.signature)
        if isinstance(stored, dict):
            products, networks = stored.get("products"), stored.get("networks")
            if isinstance(products, dict):
                self.products = dict(filter(None, map(_read_product, products.items())))
            if isinstance(networks, dict):
                self.networks = {k: v for k, v in networks.items() if isinstance(v, str)}
        return self

    def __exit__(self, *exc_info):
        global _cache_problem
        try:
            if self._path is not None and self.changed:
                self._data["machines"][self.signature] = {
                    "products": {key: {"kernel": kernel, "seconds": seconds}
                                 for key, (kernel, seconds) in sorted(self.products.items())},
                    "networks": dict(sorted(self.networks.items()))}
                temporary = f"{self._path}.{os.getpid()}.tmp"
                with open(temporary, "w", encoding="utf-8") as f:
                    json.dump(self._data, f, indent=1)
                os.replace(temporary, self._path)
        except OSError as exc:
            _cache_problem = f"{self._path}: {exc.strerror or exc}"
        finally:
            self._release()

    def _release(self):
        if self._lock_file is not None:
            self._lock_file.close()  # closing drops the lock
            self._lock_file = None


def report():
    """What show_config prints: the machine signature, the cache file and
    its state, and every choice this process has made or read."""
    signature = machine_signature()
    with _lock:
        known = sorted(((key, choice) for (sig, key), choice in _known.items()
                        if sig == signature), key=lambda item: item[0])
        problem = _cache_problem
        tuned = sorted((key, tuning) for (sig, key), tuning in _tuned.items()
                       if sig == signature)
    rows = []
    for key, choice in known:
        dtype, product, n_rows, fan_in, fan_out = _parse_shape_key(key)
        rows.append({"dtype": dtype, "product": product, "rows": n_rows, "fan_in": fan_in,
                     "fan_out": fan_out, "kernel": choice.kernel, "source": choice.source,
                     "seconds": choice.seconds})
    plans = []
    for key, tuning in tuned:
        dtype, kind, n_rows, sizes = _parse_network_key(key)
        plans.append({"network": key, "dtype": dtype, "call": kind, "rows": n_rows,
                      "layer_sizes": sizes, "plan": plan_text(tuning.plan),
                      "source": tuning.source, "seconds": tuning.seconds})
    return {"forced": forced_kernel(), "machine": signature, "cache_file": cache_path(),
            "cache_problem": problem, "choices": rows, "plans": plans}
