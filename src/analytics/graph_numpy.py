#!/usr/bin/python3
"""NumPy reference of the graph-builder (src/analytics/graph.h), written from its documented
rules, not from its code: reads the candles and the graph the worker stored in a SQLite
database, recomputes every snapshot with NumPy and compares. Exit 0 when every node and edge
matches (reals to --tol, relative above 1), 1 with the differences otherwise.

Used by graph_reference_test (src/workers/graph_reference_test.cc, label `reference`).
"""
import argparse
import sqlite3
import sys

import numpy as np


def rankdata(v):
    """Average ranks (1-based), ties averaged."""
    order = np.argsort(v, kind="mergesort")
    ranks = np.empty(len(v), dtype=np.float64)
    sv = v[order]
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def corr(x, y, method):
    """Correlation over the complete pairs; None with fewer than 2 or a constant series."""
    ok = ~np.isnan(x) & ~np.isnan(y)
    a, b = x[ok], y[ok]
    if len(a) < 2:
        return None, len(a)
    if method == "spearman":
        a, b = rankdata(a), rankdata(b)
    if np.all(a == a[0]) or np.all(b == b[0]):
        return None, len(a)
    c = np.corrcoef(a, b)[0, 1]
    return float(np.clip(c, -1.0, 1.0)), len(a)


def lagged(x, y, max_lag):
    """corr(x[t], y[t+lag]) at the lag of largest |corr|; ties: nearer 0, then negative."""
    best = (None, 0, 0)
    n = len(x)
    for k in range(0, 2 * max_lag + 1):
        lag = -((k + 1) // 2) if k % 2 else k // 2
        if abs(lag) >= n:
            continue
        lo, hi = max(0, -lag), min(n, n - lag)
        c, pairs = corr(x[lo:hi], y[lo + lag:hi + lag], "pearson")
        if c is None:
            continue
        if best[0] is None or abs(c) > abs(best[0]):
            best = (c, lag, pairs)
    return best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--db", required=True)
    p.add_argument("--graph", required=True)
    p.add_argument("--symbols", required=True)
    p.add_argument("--interval", default="1h")
    p.add_argument("--interval-ms", type=int, required=True)
    p.add_argument("--grid-start", type=int, required=True)
    p.add_argument("--candles", type=int, required=True)
    p.add_argument("--window", type=int, required=True)
    p.add_argument("--step", type=int, required=True)
    p.add_argument("--method", default="pearson")
    p.add_argument("--max-lag", type=int, default=0)
    p.add_argument("--threshold", type=float, default=None)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--tol", type=float, default=1e-9)
    a = p.parse_args()

    db = sqlite3.connect(a.db)
    symbols = a.symbols.split(",")
    n, w, step, ims = a.candles, a.window, a.step, a.interval_ms
    close = np.full((len(symbols), n), np.nan)
    volume = np.full((len(symbols), n), np.nan)
    for s, sym in enumerate(symbols):
        table = sym.lower() + "_candles_" + a.interval
        for ot, c, v, closed in db.execute(
                f'SELECT open_time, close, volume, closed FROM "{table}" WHERE symbol = ? '
                'AND interval = ?', (sym, a.interval)):
            i = (ot - a.grid_start) // ims
            if closed and 0 <= i < n and (ot - a.grid_start) % ims == 0:
                close[s, i] = float(c)
                volume[s, i] = float(v)
    with np.errstate(invalid="ignore", divide="ignore"):
        rets = np.full((len(symbols), n), np.nan)
        rets[:, 1:] = np.log(close[:, 1:] / close[:, :-1])
    min_pairs = max(2, (w - 1) // 2)

    want_nodes, want_edges = {}, {}
    snapshots = 0 if n < w else (n - w) // step + 1
    for v in range(snapshots):
        first, end = v * step, v * step + w
        ws = a.grid_start + first * ims
        wr = rets[:, first + 1:end]
        for s, sym in enumerate(symbols):
            r = wr[s]
            present = r[~np.isnan(r)]
            vol = volume[s, first:end]
            half = w // 2
            v1, v2 = np.nansum(vol[:half]), np.nansum(vol[half:])
            nxt = None
            if end - 1 + step < n:
                nr = rets[s, end:end + step]
                if np.any(~np.isnan(nr)):
                    nxt = float(np.nansum(nr))
            last = [0.0 if np.isnan(x) else float(x) for x in r[::-1][:3]]
            want_nodes[(sym, v)] = {
                "window_start": ws, "window_end": ws + w * ims,
                "candles": int(np.sum(~np.isnan(close[s, first:end]))),
                "log_return": float(np.sum(present)),
                "volatility": float(np.std(present, ddof=1)) if len(present) >= 2 else 0.0,
                "volume": float(np.nansum(vol)),
                "volume_change": float(np.log(v2 / v1)) if v1 > 0 and v2 > 0 else 0.0,
                "return_1": last[0], "return_2": last[1], "return_3": last[2],
                "next_return": nxt if nxt is not None else 0.0,
                "has_next": 1 if nxt is not None else 0,
            }
        # Candidate edges: every pair in byte order of the symbols.
        order = sorted(range(len(symbols)), key=lambda i: symbols[i].encode())
        cands = []
        for xi in range(len(order)):
            for yi in range(xi + 1, len(order)):
                i, j = order[xi], order[yi]
                if a.max_lag > 0:
                    c, lag, pairs = lagged(wr[i], wr[j], a.max_lag)
                else:
                    (c, pairs), lag = corr(wr[i], wr[j], a.method), 0
                if c is None or pairs < min_pairs:
                    continue
                cands.append((i, j, c, lag, pairs))
        keep = set()
        if a.threshold is not None:
            keep |= {k for k, e in enumerate(cands) if abs(e[2]) >= a.threshold}
        if a.top_k > 0:
            for s in range(len(symbols)):
                mine = [k for k, e in enumerate(cands) if s in (e[0], e[1])]
                other = lambda k: symbols[cands[k][1] if cands[k][0] == s else cands[k][0]].encode()
                mine.sort(key=lambda k: (-abs(cands[k][2]), other(k)))
                keep |= set(mine[:a.top_k])
        for k in keep:
            i, j, c, lag, pairs = cands[k]
            src, dst = (j, i) if lag < 0 else (i, j)
            want_edges[(symbols[src], symbols[dst], v)] = {
                "window_start": ws, "window_end": ws + w * ims,
                "correlation": c, "lag": abs(lag), "samples": pairs}

    problems = []

    def close_enough(x, y):
        return abs(x - y) <= a.tol * max(1.0, abs(x), abs(y))

    def compare(kind, want, table, key_cols):
        cols = [d[1] for d in db.execute(f'PRAGMA table_info("{table}")')]
        got = {}
        for row in db.execute(f'SELECT * FROM "{table}"'):
            rec = dict(zip(cols, row))
            got[tuple(rec[c] for c in key_cols)] = rec
        if set(got) != set(want):
            missing = sorted(set(want) - set(got))[:5]
            extra = sorted(set(got) - set(want))[:5]
            problems.append(f"{kind}: {len(want)} expected, {len(got)} stored; "
                            f"missing {missing}, unexpected {extra}")
        worst = 0.0
        for key in set(got) & set(want):
            for f, x in want[key].items():
                y = got[key][f]
                if isinstance(x, float):
                    worst = max(worst, abs(x - y))
                    if not close_enough(x, y):
                        problems.append(f"{kind} {key}: {f} stored {y!r}, NumPy {x!r}")
                elif x != y:
                    problems.append(f"{kind} {key}: {f} stored {y!r}, expected {x!r}")
        return worst

    wn = compare("node", want_nodes, a.graph + "_nodes", ["symbol", "version"])
    we = compare("edge", want_edges, a.graph + "_edges", ["symbol", "target", "version"])
    print(f"{a.graph}: {snapshots} snapshots, {len(want_nodes)} nodes, {len(want_edges)} edges; "
          f"largest difference: nodes {wn:.3g}, edges {we:.3g}")
    if problems:
        for line in problems[:30]:
            print("MISMATCH", line)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
