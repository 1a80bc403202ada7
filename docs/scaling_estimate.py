"""Communication cost of data-parallel training, estimated for the benchmarks.

    python docs/scaling_estimate.py [--results benchmarks/results.json]
                                    [--workers 8] [--latency-us 25] [--dtype float32]

Prints the tables of docs/scaling.rst (reStructuredText) from the measured
single-node results of ``benchmarks/compare.py --json``; the docs build runs
it, so the page always shows the committed measurements.

Model (synchronous data-parallel SGD/Adam, one ring all-reduce of the whole
gradient per mini-batch, no overlap of communication with computation):

- P parameters (weights and biases), ``itemsize`` bytes each;
- a ring all-reduce over n workers sends, from each worker,
  2(n-1)/n * P * itemsize bytes in 2(n-1) messages, so it takes
  ``2(n-1) * latency + 2(n-1)/n * P * itemsize / bandwidth``;
- compute per epoch on one node is fastmlp's measured fit time divided by
  the epochs; on n workers it is taken as 1/n of that (each worker handles
  1/n of the rows; an upper bound on the gain, as smaller per-worker
  batches run GEMMs less efficiently);
- "same model": the global batch stays ``batch_size`` (each worker takes
  batch_size/n rows), so the steps per epoch and the trained model are those
  of one node;
- "batch x n": every worker keeps ``batch_size`` rows, so the global batch is
  n times larger and there are n times fewer all-reduces per epoch (the model
  is that of one node trained with the larger batch, not the same one).
"""
import argparse
import json
import math
import os

LINKS_GBIT = (1, 10, 25)
DEFAULT_RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                               "benchmarks", "results.json")
ITEMSIZE = {"float32": 4, "float64": 8}


def n_parameters(layers):
    """Weights and biases of a dense network with these layer sizes."""
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(layers[:-1], layers[1:]))


def allreduce_seconds(n_params, itemsize, workers, bandwidth_bytes, latency):
    """Time of one ring all-reduce of n_params values over `workers` nodes."""
    if workers == 1:
        return 0.0
    steps = 2 * (workers - 1)
    payload = steps / workers * n_params * itemsize
    return steps * latency + payload / bandwidth_bytes


def load_results(path=DEFAULT_RESULTS):
    """The ``fit`` rows of a ``compare.py --json`` file."""
    with open(path) as f:
        results = json.load(f)
    if not results.get("fit"):
        raise ValueError(f"{path} has no 'fit' section (run benchmarks/compare.py --json)")
    return results


def workload_rows(results, dtype="float32"):
    """One dict per benchmark workload of `dtype` with the single-node facts."""
    rows = []
    for r in results["fit"]:
        if r["dtype"] != dtype:
            continue
        layers = r["layers"]
        n_params = n_parameters(layers)
        epoch_s = r["median"]["fastmlp"] / r["epochs"]
        steps = math.ceil(r["n_samples"] / r["batch"])
        rows.append(dict(
            workload=r["workload"], layers=layers, n_samples=r["n_samples"], batch=r["batch"],
            n_params=n_params, payload=n_params * ITEMSIZE[dtype], steps=steps,
            epoch_s=epoch_s, step_s=epoch_s / steps, gflops=r["gflops"]))
    return rows


def estimate(row, workers, link_gbit, latency, dtype="float32"):
    """Communication per epoch and predicted speed-ups on `workers` nodes."""
    bandwidth = link_gbit * 1e9 / 8
    t_ar = allreduce_seconds(row["n_params"], ITEMSIZE[dtype], workers, bandwidth, latency)
    compute = row["epoch_s"] / workers
    comm_same = row["steps"] * t_ar
    steps_large = math.ceil(row["n_samples"] / (row["batch"] * workers))
    comm_large = steps_large * t_ar
    # per-worker batch at which one step's compute (at the measured time per
    # sample) equals its all-reduce
    sample_s = row["epoch_s"] / row["n_samples"]
    return dict(allreduce_s=t_ar, comm_same_s=comm_same, compute_s=compute,
                speedup_same=row["epoch_s"] / (compute + comm_same),
                speedup_large=row["epoch_s"] / (compute + comm_large),
                break_even_batch=t_ar / sample_s)


def _size(n_bytes):
    if n_bytes >= 2**20:
        return f"{n_bytes / 2**20:.2f} MiB"
    return f"{n_bytes / 2**10:.1f} KiB"


def _time(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _table(header, rows):
    """A reStructuredText simple table."""
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    rule = "  ".join("=" * w for w in widths)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [rule, fmt.format(*header), rule]
    lines += [fmt.format(*r) for r in cells[1:]]
    lines.append(rule)
    return "\n".join(line.rstrip() for line in lines)


def render_rst(results, workers=8, latency=25e-6, dtype="float32"):
    """The scaling page's tables, as reStructuredText."""
    rows = workload_rows(results, dtype)
    meta = results.get("meta", {})
    out = []
    out.append(f"**Measured on one node** ({meta.get('cpu', '?')}, {meta.get('cpu_count', '?')} "
               f"cores, {meta.get('threads', '?')} threads, {meta.get('time', '?')}; "
               f"fastmlp fit time / epochs, {dtype}):\n")
    out.append(_table(
        ["workload", "layers", "parameters", "all-reduce payload", "batch", "steps / epoch",
         "time / epoch", "time / step", "GFLOP/s"],
        [[r["workload"], "-".join(map(str, r["layers"])), f"{r['n_params']:,}",
          _size(r["payload"]), r["batch"], r["steps"], _time(r["epoch_s"]),
          _time(r["step_s"]), f"{r['gflops']:.0f}"] for r in rows]))
    out.append("")
    out.append(f"**Estimated on {workers} such nodes** (ring all-reduce, "
               f"{latency * 1e6:.0f} µs per message, no overlap; speed-up = one node's "
               f"epoch time / ({workers} nodes' compute + communication)):\n")
    table = []
    for r in rows:
        for link in LINKS_GBIT:
            e = estimate(r, workers, link, latency, dtype)
            table.append([r["workload"], f"{link} Gbit/s", _time(e["allreduce_s"]),
                          _time(e["comm_same_s"]), _time(e["compute_s"]),
                          f"{e['speedup_same']:.2f}×", f"{e['speedup_large']:.2f}×",
                          f"{e['break_even_batch']:,.0f}"])
    out.append(_table(
        ["workload", "link", "all-reduce", "comm / epoch", "compute / epoch",
         "speed-up, same model", f"speed-up, batch ×{workers}", "break-even batch / worker"],
        table))
    out.append("")
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default=DEFAULT_RESULTS, help="compare.py --json output")
    p.add_argument("--workers", type=int, default=8, help="nodes (default 8)")
    p.add_argument("--latency-us", type=float, default=25.0,
                   help="per-message latency in µs (default 25)")
    p.add_argument("--dtype", choices=sorted(ITEMSIZE), default="float32")
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error("--workers must be at least 1")
    print(render_rst(load_results(args.results), args.workers, args.latency_us * 1e-6,
                     args.dtype))


if __name__ == "__main__":
    main()
