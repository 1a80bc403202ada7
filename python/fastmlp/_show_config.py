"""fastmlp.show_config: the versions and the machine a bug report needs.

``config_info()`` gathers a plain dict of sections (``"python"``,
``"dependencies"``, ``"engine"``, ``"blas"``, ``"cpu"``, ``"kernel_choice"``,
``"kernels"``), each a dict of
name -> value or a list of such dicts; ``show_config()`` prints it.  A new
section is one more entry in ``_SECTIONS``: its key and a function that
returns its dict (or list of dicts); the printing needs no change.
"""

import os
import platform
import sys

__all__ = ["show_config"]


def _python_info():
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
    }


def _dependency_versions():
    # the versions of the modules this process imports (not the installed
    # metadata, which a PYTHONPATH or a stale install can contradict)
    import numpy
    import scipy
    import sklearn
    import threadpoolctl

    import fastmlp

    return {
        "fastmlp": fastmlp.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "threadpoolctl": threadpoolctl.__version__,
    }


def _engine_info():
    from fastmlp import _engine

    return {
        # the instruction set of the engine's own GEMM kernel on this CPU
        "gemm_isa": _engine.gemm_isa(),
        # the module whose dgemm/sgemm the engine calls
        "blas_library": _engine.blas_library(),
    }


_BLAS_KEYS = ("internal_api", "version", "architecture", "threading_layer",
              "num_threads", "filepath")


def _blas_info():
    """Every BLAS loaded in the process, as threadpoolctl sees it (the
    engine's is loaded by then: importing fastmlp loads it)."""
    from threadpoolctl import threadpool_info

    from fastmlp import _engine  # noqa: F401  (loads the engine's BLAS)

    return [
        {key: lib.get(key) for key in _BLAS_KEYS}
        for lib in threadpool_info()
        if lib.get("user_api") == "blas"
    ]


def _cpu_info():
    from fastmlp._kernel_choice import cpu_model

    return {
        "model": cpu_model(),
        "machine": platform.machine(),
        "logical_cpus": os.cpu_count(),
    }


def _kernel_choice_info():
    """How the engine chooses between the BLAS and its own GEMM kernel
    (fastmlp._kernel_choice): the machine the choices belong to and where
    they are kept."""
    from fastmlp import _kernel_choice

    report = _kernel_choice.report()
    return {
        "forced": report["forced"] or "no (each product timed alone, close calls timed "
                                      "in whole steps of the network, the fastest kept)",
        "machine": report["machine"],
        "cache_file": report["cache_file"] or "off (this process only)",
        "cache_problem": report["cache_problem"],
    }


def _kernel_choices():
    """Every choice this process has made or read: per product shape, the
    kernel and (when timed here) both kernels' times."""
    from fastmlp import _kernel_choice

    rows = []
    for c in _kernel_choice.report()["choices"]:
        seconds = c["seconds"] or {}
        rows.append({
            "product": f"{c['dtype']} {c['product']} "
                       f"{c['rows']}x{c['fan_in']}x{c['fan_out']}",
            "kernel": c["kernel"],
            "source": c["source"],
            "blas_us": None if "blas" not in seconds else round(seconds["blas"] * 1e6, 1),
            "own_us": None if "own" not in seconds else round(seconds["own"] * 1e6, 1),
        })
    return rows


def _kernel_plans():
    """Every network plan this process has made or read: per network (dtype,
    training or prediction, rows, layer sizes), the kernel of each product
    (per layer: forward, weight gradient, input gradient; b: BLAS, o: the
    engine's own) and, when tuned here, a step's time with the seed plan
    and with the plan kept."""
    from fastmlp import _kernel_choice

    rows = []
    for p in _kernel_choice.report()["plans"]:
        seconds = p["seconds"] or {}
        rows.append({
            "network": p["network"],
            "plan": p["plan"],
            "source": p["source"],
            "seed_us": None if "seed" not in seconds else round(seconds["seed"] * 1e6, 1),
            "chosen_us": None if "chosen" not in seconds else round(seconds["chosen"] * 1e6, 1),
        })
    return rows


# section key -> function returning the section; printed in this order
_SECTIONS = {
    "python": _python_info,
    "dependencies": _dependency_versions,
    "engine": _engine_info,
    "blas": _blas_info,
    "cpu": _cpu_info,
    "kernel_choice": _kernel_choice_info,
    "kernels": _kernel_choices,
    "kernel_plans": _kernel_plans,
}


def config_info():
    """The configuration as a plain dict: section -> dict, or list of dicts."""
    return {name: section() for name, section in _SECTIONS.items()}


def _format(info):
    lines = []
    for name, section in info.items():
        lines.append(f"{name}:")
        entries = section if isinstance(section, list) else [section]
        if not entries:
            lines.append("  (none found)")
        for i, entry in enumerate(entries):
            if i:
                lines.append("")
            width = max(map(len, entry), default=0)
            for key, value in entry.items():
                lines.append(f"  {key + ':':<{width + 1}} {value}")
        lines.append("")
    return "\n".join(lines)


def show_config(mode="stdout"):
    """Print the versions, BLAS and CPU that fastmlp runs with.

    Paste its output into a bug report.

    Parameters
    ----------
    mode : {"stdout", "dicts"}, default="stdout"
        ``"stdout"`` prints the configuration; ``"dicts"`` returns it as a
        dict of sections instead: ``"python"``, ``"dependencies"`` (fastmlp,
        NumPy, SciPy, scikit-learn, threadpoolctl), ``"engine"`` (the SIMD
        level of fastmlp's own GEMM kernel and the BLAS module it calls),
        ``"blas"`` (a list: every BLAS loaded, as threadpoolctl reports it)
        ``"cpu"``, ``"kernel_choice"`` (how each product's kernel is
        chosen: timed on this machine, kept in a cache file),
        ``"kernels"`` (a list: each product shape met so far in this
        process, the kernel that won it alone, and both kernels' times)
        and ``"kernel_plans"`` (a list: each network met so far, the
        kernel of each of its products after timing whole steps, and a
        step's time before and after).

    Returns
    -------
    dict or None
        The configuration when ``mode="dicts"``, else None.

    Examples
    --------
    >>> import fastmlp
    >>> fastmlp.show_config()  # doctest: +SKIP
    >>> fastmlp.show_config(mode="dicts")["engine"]["gemm_isa"]  # doctest: +SKIP
    'avx2'
    """
    if mode not in ("stdout", "dicts"):
        raise ValueError(f"mode must be 'stdout' or 'dicts', got {mode!r}")
    info = config_info()
    if mode == "dicts":
        return info
    print(_format(info), end="")
    return None
