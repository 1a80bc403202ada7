"""What a fit may take from the machine: memory (a network too large is
refused before anything is allocated), the engine's threads (threadpoolctl's
BLAS limit) and the rows per chunk of prediction and full-batch gradients."""

import functools
import operator
import os

import numpy as np

from fastmlp import _engine
from fastmlp._parameters import ParameterLayout

# The engine's sizes are C ints: at most this many units per layer.
MAX_LAYER_UNITS = 2**31 - 1

# Prediction and L-BFGS's full-batch gradient run in chunks of rows; a chunk's
# activations take about this many bytes (and at most the engine's default
# of 4096 rows), so a very wide network does not ask for gigabytes.
CHUNK_BYTES = 64 * 2**20


@functools.lru_cache(maxsize=1)
def blas_controllers():
    """threadpoolctl's controllers of the process's BLAS libraries, found
    once (scanning the loaded libraries takes about 10 ms)."""
    from threadpoolctl import ThreadpoolController

    return tuple(c for c in ThreadpoolController().lib_controllers if c.user_api == "blas")


def engine_threads():
    """Threads for the engine's parallel optimizer update: the BLAS's current
    limit, so that threadpoolctl's limits (and joblib's per-worker ones) hold
    for the engine as they do for the BLAS."""
    counts = [controller.num_threads for controller in blas_controllers()]
    return max(1, min(min(counts, default=1), _engine.MAX_THREADS))


def chunk_rows(layer_sizes, dtype):
    """Rows per chunk of prediction / full-batch gradient for this network:
    the engine's default (4096), fewer for very wide networks so that a
    chunk's activations and deltas stay within CHUNK_BYTES."""
    width = sum(int(u) for u in layer_sizes[1:])
    per_row = 2 * width * np.dtype(dtype).itemsize
    return int(max(1, min(_engine.DEFAULT_CHUNK_ROWS, CHUNK_BYTES // per_row)))


@functools.lru_cache(maxsize=1)
def memory_limit():
    """Bytes of memory this process may use at most: the machine's physical
    memory, or a smaller cgroup limit (containers); None if unknown."""
    try:
        limit = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        limit = None
    for path in (
        "/sys/fs/cgroup/memory.max",  # cgroup v2
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",  # cgroup v1
    ):
        try:
            with open(path) as f:
                value = int(f.read().strip())
        except (OSError, ValueError):  # absent, or "max"
            continue
        if 0 < value < 2**60 and (limit is None or value < limit):
            limit = value
    return limit


def check_network_size(layer_units, dtype, rows, stochastic, first_pass):
    """Reject, before anything is allocated, a network the engine cannot
    describe (ValueError) or whose training could not fit in this machine's
    memory (MemoryError), instead of attempting to allocate it.  rows: the
    mini-batch size, or (L-BFGS) the number of samples, processed in chunks."""
    try:
        layer_units = [operator.index(u) for u in layer_units]
    except TypeError:
        return  # not integers: the initialisation raises scikit-learn's error
    too_wide = [u for u in layer_units if u > MAX_LAYER_UNITS]
    if too_wide:
        raise ValueError(
            f"The network's layers {layer_units} exceed the {MAX_LAYER_UNITS} units "
            "per layer fastmlp's engine supports; use smaller hidden_layer_sizes."
        )
    limit = memory_limit()
    if limit is None:
        return
    itemsize = np.dtype(dtype).itemsize
    if not stochastic:
        rows = min(rows, chunk_rows(layer_units, dtype))
    n_params = ParameterLayout(layer_units).n_params
    width = sum(layer_units[1:])
    # A lower bound of the peak: the parameters, their gradient and one more
    # copy (an optimizer moment, or L-BFGS's float64 iterate), plus one
    # batch's activations and deltas; a first fit also draws the initial
    # weights in float64 and concatenates them.
    need = 3 * n_params * itemsize + 2 * rows * width * itemsize
    if not stochastic:
        need += n_params * 8
    if first_pass:
        need = max(need, 2 * n_params * 8)
    if need > limit:
        raise MemoryError(
            f"Training a network with layers {layer_units} ({n_params:,} parameters) "
            f"needs at least {need / 2**30:,.1f} GiB, more than this machine's "
            f"{limit / 2**30:,.1f} GiB of memory; use smaller hidden_layer_sizes "
            "or batch_size."
        )
