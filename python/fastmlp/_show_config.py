"""fastmlp.show_config: the versions and the machine a bug report needs.

``config_info()`` gathers a plain dict of sections (``"python"``,
``"dependencies"``, ``"engine"``, ``"blas"``, ``"cpu"``), each a dict of
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


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def _cpu_info():
    return {
        "model": _cpu_model(),
        "machine": platform.machine(),
        "logical_cpus": os.cpu_count(),
    }


# section key -> function returning the section; printed in this order
_SECTIONS = {
    "python": _python_info,
    "dependencies": _dependency_versions,
    "engine": _engine_info,
    "blas": _blas_info,
    "cpu": _cpu_info,
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
        and ``"cpu"``.

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
