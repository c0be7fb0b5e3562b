#!/usr/bin/python3
"""NumPy reference of bench/graph_bench.cc (issue 13): the graph-builder's computation
(src/analytics/graph.h) over aligned candle series, the idiomatic vectorised NumPy way, timed.

Reads the closes and volumes graph_bench wrote (float64, native byte order: the closes of
every series, then their volumes, each series `--candles` long; NaN = missing candle), builds
every snapshot (Pearson, edges by |r| >= --threshold with at least (window - 1) / 2 complete
pairs) and prints one JSON line: the seconds the build took (perf_counter, after the file is
read; of them, `matrix_seconds` in the correlation matrices), the edges and checksums
graph_bench compares with its own, the peak RSS.

Per window: node features vectorised over the series; the correlation matrix by np.corrcoef
when the window has no missing return, else the pairwise-complete correlations from masked
matrix products (returns centred by each series' mean, zero where missing; the counts, sums
and sums of squares over each pair's complete returns are products with the 0/1 mask).

Run with Debian's /usr/bin/python3 (python3-numpy). One BLAS thread.
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def build(close, volume, w, step, threshold, limit):
    n, total = close.shape
    snapshots = 0 if total < w else (total - w) // step + 1
    if limit > 0:
        snapshots = min(snapshots, limit)
    min_pairs = max(2, (w - 1) // 2)
    iu = np.triu_indices(n, 1)
    half = w // 2
    edges, corr_sum, node_sum, matrix_seconds = 0, 0.0, 0.0, 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        rets = np.empty_like(close)
        rets[:, 0] = np.nan
        np.log(close[:, 1:] / close[:, :-1], out=rets[:, 1:])
        for v in range(snapshots):
            first, end = v * step, v * step + w
            wr = rets[:, first + 1:end]
            mask = ~np.isnan(wr)
            cnt = mask.sum(axis=1)
            x0 = np.where(mask, wr, 0.0)
            log_return = x0.sum(axis=1)
            mean = log_return / np.maximum(cnt, 1)
            dev = np.where(mask, wr - mean[:, None], 0.0)
            ss = (dev * dev).sum(axis=1)
            volatility = np.where(cnt >= 2, np.sqrt(ss / np.maximum(cnt - 1, 1)), 0.0)
            vw = volume[:, first:end]
            v1, v2 = np.nansum(vw[:, :half], axis=1), np.nansum(vw[:, half:], axis=1)
            volume_change = np.where((v1 > 0) & (v2 > 0), np.log(v2 / v1), 0.0)
            next_return = np.zeros(n)
            if end - 1 + step < total:
                nr = rets[:, end:end + step]
                next_return = np.nansum(nr, axis=1)
            node_sum += float(log_return.sum() + volatility.sum() + volume_change.sum() +
                              next_return.sum())

            t0 = time.perf_counter()
            if mask.all():
                c = np.corrcoef(wr)
                pairs = np.full((n, n), float(w - 1))
            else:
                mf = mask.astype(np.float64)
                pairs = mf @ mf.T
                s = dev @ mf.T  # s[i, j]: sum of i's centred returns where j is present
                s2 = (dev * dev) @ mf.T
                cov = dev @ dev.T - s * s.T / pairs
                var = s2 - s * s / pairs
                c = cov / np.sqrt(var * var.T)
            matrix_seconds += time.perf_counter() - t0
            c = np.clip(c, -1.0, 1.0)
            cu, pu = c[iu], pairs[iu]
            keep = (pu >= min_pairs) & ~np.isnan(cu) & (np.abs(cu) >= threshold)
            edges += int(keep.sum())
            corr_sum += float(cu[keep].sum())
    return snapshots, edges, corr_sum, node_sum, matrix_seconds


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--symbols", type=int, required=True)
    p.add_argument("--candles", type=int, required=True)
    p.add_argument("--window", type=int, required=True)
    p.add_argument("--step", type=int, required=True)
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--snapshots", type=int, default=0, help="only the first N (0: all)")
    a = p.parse_args()

    t0 = time.perf_counter()
    data = np.fromfile(a.data, dtype=np.float64)
    if data.size != 2 * a.symbols * a.candles:
        print(f"{a.data}: {data.size} values, expected {2 * a.symbols * a.candles}",
              file=sys.stderr)
        return 1
    data = data.reshape(2, a.symbols, a.candles)
    close, volume = data[0], data[1]
    load = time.perf_counter() - t0

    t0 = time.perf_counter()
    cpu0 = time.process_time()
    snapshots, edges, corr_sum, node_sum, matrix_seconds = build(
        close, volume, a.window, a.step, a.threshold, a.snapshots)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    print(json.dumps({
        "seconds": seconds, "cpu_seconds": cpu, "load_seconds": load, "snapshots": snapshots,
        "matrix_seconds": matrix_seconds, "edges": edges, "corr_sum": corr_sum,
        "node_sum": node_sum,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "numpy": np.__version__,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
