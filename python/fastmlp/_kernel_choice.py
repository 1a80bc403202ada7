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
timings cover every batch and chunk size.

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
import os
import platform
import threading
from dataclasses import dataclass
from typing import Optional

import numpy as np

from fastmlp._engine import GEMM_KERNELS as KERNELS
from fastmlp._engine import PRODUCTS, gemm_isa
from fastmlp._resources import blas_controllers

try:
    import fcntl
except ImportError:  # no file locks: the cache is still used, unlocked
    fcntl = None

# A product whose timing buffers would take more memory than this is left
# to the BLAS untimed: timing it would cost more than any choice could save,
# and large products are what the BLAS's cache blocking is built for.
_TIMING_BYTES_MAX = 256 * 2**20

_CACHE_FORMAT = 1


@dataclass(frozen=True)
class Choice:
    kernel: str  # one of KERNELS
    source: str  # "measured", "cache file" or why nothing was timed
    seconds: Optional[dict] = None  # kernel -> seconds per call, when measured here


_lock = threading.Lock()
_known = {}  # (machine signature, shape key) -> Choice
_plans = {}  # (signature, layer sizes, dtype, rows, training, dense) -> bytes
_cache_problem = None  # why the cache file could not be used, if it could not


def forget():
    """Drop this process's choices and plans (the cache file stays)."""
    global _cache_problem
    with _lock:
        _known.clear()
        _plans.clear()
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


def _rows_bucket(n_rows):
    """n_rows rounded up to a power of two."""
    return 1 << max(int(n_rows) - 1, 0).bit_length()


def _shape_key(dtype, product, n_rows, fan_in, fan_out):
    return f"{dtype} {product} {n_rows}x{fan_in}x{fan_out}"


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


def plan(layer_sizes, dtype, n_rows, *, training, dense, kernel, time_product):
    """The engine's plan for calls of up to n_rows rows: bytes, one
    KERNELS index per (layer, product), len(PRODUCTS) per layer.

    kernel: 'blas' or 'own' for all products, or None to choose each by
    timing (time_product(dtype, product, n_rows, fan_in, fan_out) ->
    seconds per kernel), unless FASTMLP_GEMM forces one."""
    n_entries = len(PRODUCTS) * (len(layer_sizes) - 1)
    forced = forced_kernel(kernel)
    if forced is not None:
        return bytes([KERNELS.index(forced)]) * n_entries
    dtype = np.dtype(dtype).name
    rows = _rows_bucket(n_rows)
    signature = machine_signature()
    plan_key = (signature, tuple(layer_sizes), dtype, rows, bool(training), bool(dense))
    found = _plans.get(plan_key)
    if found is not None:
        return found
    products = list(_products(layer_sizes, training, dense))
    keys = [_shape_key(dtype, product, rows, fan_in, fan_out)
            for _, product, fan_in, fan_out in products]
    with _lock:
        chosen = _choose(signature, keys, time_product)
    entries = bytearray(n_entries)  # the BLAS where no choice applies
    for (layer, product, _, _), choice in zip(products, chosen):
        entries[layer * len(PRODUCTS) + PRODUCTS.index(product)] = KERNELS.index(choice.kernel)
    _plans[plan_key] = bytes(entries)
    return _plans[plan_key]


def _choose(signature, keys, time_product):
    """The Choice of each shape key: known in this process, else read from
    the cache file, else timed now (and written to the file)."""
    missing = [k for k in dict.fromkeys(keys) if (signature, k) not in _known]
    if missing:
        with _CacheFile(signature) as stored:
            for key in missing:
                if key in stored.entries:
                    _known[signature, key] = Choice(stored.entries[key], "cache file")
                    continue
                choice = _measure(key, time_product)
                _known[signature, key] = choice
                stored.entries[key] = choice.kernel
                stored.changed = True
    return [_known[signature, k] for k in keys]


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


class _CacheFile:
    """The cache file's entries for one machine signature, read and (when
    `changed`) written back under an exclusive lock, so that processes
    starting together agree: the second waits, then reads the first's
    choices.  Without a usable file, `entries` starts empty and stays in
    memory (the reason is kept for show_config)."""

    def __init__(self, signature):
        self.signature = signature
        self.entries = {}
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
        stored = machines.get(self.signature, {})
        if isinstance(stored, dict):
            self.entries = {k: v for k, v in stored.items() if v in KERNELS}
        return self

    def __exit__(self, *exc_info):
        global _cache_problem
        try:
            if self._path is not None and self.changed:
                self._data["machines"][self.signature] = dict(sorted(self.entries.items()))
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
    rows = []
    for key, choice in known:
        dtype, product, n_rows, fan_in, fan_out = _parse_shape_key(key)
        rows.append({"dtype": dtype, "product": product, "rows": n_rows, "fan_in": fan_in,
                     "fan_out": fan_out, "kernel": choice.kernel, "source": choice.source,
                     "seconds": choice.seconds})
    return {"forced": forced_kernel(), "machine": signature, "cache_file": cache_path(),
            "cache_problem": problem, "choices": rows}
