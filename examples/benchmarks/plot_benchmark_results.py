"""
==================================================
fastmlp against scikit-learn and PyTorch, measured
==================================================

The results of ``benchmarks/compare.py`` (stored in
``benchmarks/results.json``), read back and shown as a table, with the plot
``benchmarks/plot_results.py`` drew from them.  Nothing is re-measured here:
timing the benchmarks takes minutes, and on a shared machine only
side-by-side, interleaved runs give trustworthy ratios.
"""

# %%
# The stored run
# --------------
import json
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt

# the repository's benchmarks/ folder, two levels above this example
try:
    here = Path(__file__).resolve().parent
except NameError:  # the docs build runs examples in their folder, without __file__
    here = Path.cwd()
bench_dir = here.parents[1] / "benchmarks"
results = json.loads((bench_dir / "results.json").read_text())

meta = results["meta"]
print(f"{meta['time']}, {meta['cpu']} ({meta['cpu_count']} cores, {meta['threads']} threads), "
      f"scikit-learn {meta['sklearn']}, torch {meta['torch']}, "
      f"medians of {meta['repeats']} interleaved rounds")

# %%
# Fit time ratios
# ---------------
# Each ratio is the peer's median fit time divided by fastmlp's (above 1:
# fastmlp is faster); GFLOP/s is fastmlp's training rate, and "% GEMM" its
# fraction of the BLAS's rate on large squares, measured in the same rounds.
print(f"{'workload':<11}{'dtype':<9}{'layers':<26}{'batch':>6}{'epochs':>7}"
      f"{'fastmlp s':>11}{'vs sklearn':>11}{'vs torch':>10}{'GFLOP/s':>9}{'% GEMM':>8}")
for r in results["fit"]:
    torch_ratio = r.get("torch_over_fastmlp")
    print(f"{r['workload']:<11}{r['dtype']:<9}{'-'.join(map(str, r['layers'])):<26}"
          f"{r['batch']:>6}{r['epochs']:>7}{r['median']['fastmlp']:>11.3f}"
          f"{r['sklearn_over_fastmlp']:>10.1f}x"
          + (f"{torch_ratio:>9.1f}x" if torch_ratio else f"{'-':>10}")
          + f"{r['gflops']:>9.0f}{100 * r['fraction_of_limit']:>7.0f}%")

# %%
# Prediction and L-BFGS
# ---------------------
for section, what in (("predict", "predict_proba"), ("lbfgs", "L-BFGS fit")):
    for r in results.get(section, []):
        print(f"{what:<14} {r['dtype']}: {r['sklearn_over_fastmlp']:.1f}x scikit-learn")

# %%
# The plot
# --------
# ``python benchmarks/plot_results.py benchmarks/results.json`` drew this
# figure from the same file: the ratios with their per-round range on top,
# the fraction of the GEMM rate below.
image = mpimg.imread(bench_dir / "results.png")
height, width = image.shape[:2]
fig = plt.figure(figsize=(width / 100, height / 100))
ax = fig.add_axes((0, 0, 1, 1))
ax.imshow(image)
ax.set_axis_off()
