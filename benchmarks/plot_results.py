"""Plot the ratios of a `compare.py --json` run.

    python benchmarks/plot_results.py results.json [-o benchmarks/results.png]

Top panel: for each workload and dtype of the fit section, bars of
sklearn time / fastmlp time and torch time / fastmlp time (medians of the same
interleaved run; > 1 means fastmlp is faster), with a line at 1.  Whiskers
span the per-round ratios.  Bottom panel: fastmlp's training GFLOP/s as a
fraction of the engine-BLAS GEMM rate measured in the same rounds.  Ratios of
the predict_proba and L-BFGS sections, when present, are added as extra bars.
A "(!)" after a workload marks a row whose BLAS threads were starved for cores,
"(~)" one whose per-round ratios differ by more than 1.5x (compare.py's "!"
and "~": do not quote them).
"""
import argparse
import json
import os
import sys

try:
    import matplotlib
except ImportError:  # pip install matplotlib (or: pip install ".[bench]")
    sys.exit("matplotlib is missing: pip install matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.png")


def short(dtype):
    return {"float32": "f32", "float64": "f64"}.get(dtype, dtype)


def bars(results):
    """(label, sklearn ratio, sklearn per-round ratios, torch ratio, torch rounds)."""
    out = []
    for r in results.get("fit", []):
        rr = r.get("round_ratios", {})
        flag = (" (!)" if r.get("starved") else "") + (" (~)" if r.get("noisy") else "")
        out.append((f"{r['workload']}{flag}\n{short(r['dtype'])}", r["sklearn_over_fastmlp"],
                    rr.get("sklearn", []), r.get("torch_over_fastmlp"), rr.get("torch", [])))
    for section, name in (("predict", "predict_proba"), ("lbfgs", "L-BFGS")):
        for r in results.get(section, []):
            t = r["times"]
            rounds = [s / f for s, f in zip(t["sklearn"], t["fastmlp"])]
            out.append((f"{name}\n{short(r['dtype'])}", r["sklearn_over_fastmlp"], rounds,
                        None, []))
    return out


def whisker(ratio, rounds):
    if not rounds or ratio is None:
        return None
    return [[max(ratio - min(rounds), 0)], [max(max(rounds) - ratio, 0)]]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("json", help="output of compare.py --json")
    p.add_argument("-o", "--output", default=DEFAULT_OUT, help=f"PNG (default {DEFAULT_OUT})")
    args = p.parse_args()
    with open(args.json) as f:
        results = json.load(f)
    rows = bars(results)
    if not rows:
        sys.exit(f"{args.json} has no fit, predict or lbfgs results to plot")
    fits = results.get("fit", [])

    n_panels = 2 if fits else 1
    fig, axes = plt.subplots(n_panels, 1, figsize=(max(8, 0.9 * len(rows) + 2), 4 * n_panels + 1),
                             squeeze=False, gridspec_kw={"height_ratios": [2, 1][:n_panels]})
    ax = axes[0][0]
    width = 0.38
    xs = list(range(len(rows)))
    for i, (label, sk, sk_rounds, tr, tr_rounds) in enumerate(rows):
        ax.bar(i - width / 2, sk, width, color="tab:blue", yerr=whisker(sk, sk_rounds),
               capsize=3, label="scikit-learn / fastmlp" if i == 0 else None)
        ax.text(i - width / 2, max([sk, *sk_rounds]), f"{sk:.1f}", ha="center", va="bottom",
                fontsize=7)
        if tr is not None:
            ax.bar(i + width / 2, tr, width, color="tab:orange", yerr=whisker(tr, tr_rounds),
                   capsize=3, label="PyTorch / fastmlp" if not any(
                       r[3] is not None for r in rows[:i]) else None)
            ax.text(i + width / 2, max([tr, *tr_rounds]), f"{tr:.1f}", ha="center",
                    va="bottom", fontsize=7)
    ax.axhline(1.0, color="black", linewidth=1, linestyle="--")
    ax.set_xticks(xs, [r[0] for r in rows], fontsize=8)
    ax.set_ylabel("peer time / fastmlp time  (>1: fastmlp faster)")
    meta = results.get("meta", {})
    title = (f"fastmlp {meta.get('fastmlp', '?')} vs scikit-learn {meta.get('sklearn', '?')}"
             f" and torch {meta.get('torch') or '(absent)'}; medians of "
             f"{meta.get('repeats', '?')} interleaved rounds, {meta.get('threads', '?')} "
             f"thread(s), {meta.get('time', '')}")
    if meta.get("quick"):
        title += "  [QUICK: smoke test]"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ymax = max(max(r[1] for r in rows), max((r[3] for r in rows if r[3] is not None),
                                            default=0))
    if ymax > 20:
        ax.set_yscale("log")

    if fits:
        ax2 = axes[1][0]
        labels = [f"{r['workload']}\n{short(r['dtype'])}" for r in fits]
        frac = [100 * r["fraction_of_limit"] for r in fits]
        ax2.bar(range(len(fits)), frac, 0.5, color="tab:green")
        for i, (v, r) in enumerate(zip(frac, fits)):
            ax2.text(i, v, f"{v:.0f}%\n{r['gflops']:.0f}/{r['limit_gflops']:.0f}",
                     ha="center", va="bottom", fontsize=7)
        ax2.axhline(100, color="black", linewidth=1, linestyle="--")
        ax2.set_xticks(range(len(fits)), labels, fontsize=8)
        ax2.set_ylabel("% of engine-BLAS\nGEMM rate (GFLOP/s)")
        ax2.set_ylim(0, max(110, max(frac) * 1.25))

    fig.tight_layout()
    fig.savefig(args.output, dpi=120)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
