#!/usr/bin/env python3
"""Binance's official Python SDK (binance-sdk-spot, binance-sdk-wallet) against `streamforge sim`.

    binance_sdk_test.py --bin build/bin/streamforge --pyenv scripts/pyenv

Run with any python3: it builds (or reuses) the SDK's venv with scripts/pyenv and re-runs
itself there. It starts the simulator on a free port of 127.0.0.1, calls every endpoint the
simulator serves through the SDK, unmodified, pointed at the simulator's base URL, checks
the answers against each other as the market defines them (klines = uiKlines, /trades =
historicalTrades for the same ids, tickers from the candles, trades and book), checks that
the SDK raises its own error types with Binance's codes, and that the SDK never had to
relax its response models (it logs a warning and parses loosely when a field has the wrong
type). It stops the simulator by pid and checks that no process it started is left.
Exit 0 when every check passed; the last line is "N passed, N failed".
"""

import argparse
import os
import subprocess
import sys
import time
import traceback

SDK_REQUIREMENTS = ["binance-sdk-spot==13.3.0", "binance-sdk-wallet==13.8.0"]
VENV_NAME = "binance-sdk"


def reexec_in_venv(args):
    """Runs this script again with the venv's interpreter, unless it already is that one."""
    if os.environ.get("SF_BINANCE_SDK_VENV") == "1":
        return
    out = subprocess.run([args.pyenv, VENV_NAME, *SDK_REQUIREMENTS], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    python = out.strip().splitlines()[-1]
    env = dict(os.environ, SF_BINANCE_SDK_VENV="1")
    os.execve(python, [python, os.path.abspath(__file__), *sys.argv[1:]], env)


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL: {what}", flush=True)

    def eq(self, got, want, what):
        self.check(got == want, f"{what}: got {got!r}, want {want!r}")


def start_sim(binary, seed):
    """Starts `streamforge sim --port 0` and returns (process, base URL) once it listens."""
    proc = subprocess.Popen([binary, "sim", "--port", "0", "--seed", str(seed)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if "listening on " in line:
            return proc, line.strip().split("listening on ", 1)[1]
    stop(proc)
    raise RuntimeError("the simulator did not start")


def stop(proc):
    """Stops the one process this test started, by its pid."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if proc.stdout:
        proc.stdout.close()


def children_of(pid):
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)],
                         stdout=subprocess.PIPE, text=True).stdout
    return [l for l in out.splitlines() if l.strip() and " ps " not in f" {l} "]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="the streamforge binary")
    ap.add_argument("--pyenv", required=True, help="scripts/pyenv")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    reexec_in_venv(args)

    import logging
    from decimal import Decimal as D

    from binance_common.configuration import ConfigurationRestAPI
    from binance_common.errors import BadRequestError, ClientError, NotFoundError
    from binance_common.utils import send_request
    from binance_sdk_spot.spot import Spot
    from binance_sdk_wallet.wallet import Wallet

    # The SDK logs a warning and parses loosely (or returns the raw payload) when an answer
    # does not match its models: any such warning is a failure.
    class Collect(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.records = []

        def emit(self, record):
            self.records.append(record.getMessage())

    sdk_warnings = Collect()
    logging.getLogger().addHandler(sdk_warnings)

    c = Checks()
    t0 = time.monotonic()
    proc, url = start_sim(args.bin, args.seed)
    try:
        cfg = ConfigurationRestAPI(base_path=url, timeout=20000, retries=0)
        api = Spot(config_rest_api=cfg).rest_api
        wallet = Wallet(config_rest_api=ConfigurationRestAPI(base_path=url, timeout=20000,
                                                              retries=0)).rest_api
        for step in (lambda: run_checks(c, api, wallet, D),
                     lambda: check_errors(c, api, BadRequestError, ClientError, NotFoundError,
                                          send_request)):
            try:
                step()
            except Exception:  # noqa: BLE001: an SDK exception is a failed check, then go on
                c.check(False, "the SDK raised:\n" + traceback.format_exc())
        c.eq(sdk_warnings.records, [], "the SDK parsed every answer with its strict models")
    finally:
        pid = proc.pid
        stop(proc)
    c.check(proc.returncode is not None, "the simulator has exited")
    c.check(subprocess.run(["ps", "-p", str(pid)], stdout=subprocess.DEVNULL).returncode != 0,
            f"no process with the simulator's pid {pid} is left")
    c.eq(children_of(os.getpid()), [], "no child process of this test is left")
    print(f"binance-sdk-spot against streamforge sim: {time.monotonic() - t0:.1f} s")
    print(f"{c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 else 1


def one(resp):
    """The payload of an SDK answer, unwrapped from its one-of model when it is one."""
    d = resp.data()
    return getattr(d, "actual_instance", d)


def run_checks(c, api, wallet, D):
    minute = 60_000
    # ping, time, exchangeInfo.
    c.eq(api.ping().data(), {}, "ping")
    server_time = api.time().data().server_time
    c.check(abs(server_time - time.time() * 1000) < 10_000, "time: serverTime is now")
    info = api.exchange_info().data()
    names = [s.symbol for s in info.symbols]
    c.check({"BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT"} <= set(names),
            f"exchangeInfo: the default symbols ({names})")
    two = api.exchange_info(symbols=["ETHUSDT", "BTCUSDT"]).data()
    c.eq(sorted(s.symbol for s in two.symbols), ["BTCUSDT", "ETHUSDT"], "exchangeInfo symbols=[..]")
    c.check(any(r.rate_limit_type == "REQUEST_WEIGHT" for r in info.rate_limits),
            "exchangeInfo: REQUEST_WEIGHT limit")
    ticks = {}
    for s in info.symbols:
        for f in s.filters:
            f = getattr(f, "actual_instance", f)
            if f.filter_type == "PRICE_FILTER":
                ticks[s.symbol] = D(f.tick_size)
    c.eq(sorted(ticks), sorted(names), "exchangeInfo: a PRICE_FILTER for every symbol")

    # klines and uiKlines: the same rows; contiguous, each close is the next open.
    start = 1722470400000  # 2024-08-01T00:00:00Z
    k = api.klines(symbol="BTCUSDT", interval="1m", start_time=start, limit=1000).data()
    c.eq(len(k), 1000, "klines: a full page")
    c.eq([r[0] for r in k], [start + i * minute for i in range(1000)], "klines: open times")
    c.check(all(k[i][4] == k[i + 1][1] for i in range(999)), "klines: close = next open")
    c.check(all(D(r[3]) <= min(D(r[1]), D(r[4])) <= max(D(r[1]), D(r[4])) <= D(r[2]) for r in k),
            "klines: low <= open, close <= high")
    ui = api.ui_klines(symbol="BTCUSDT", interval="1m", start_time=start, limit=1000).data()
    c.eq(ui, k, "uiKlines = klines (startTime)")
    k_end = api.klines(symbol="ETHUSDT", interval="1h", end_time=start, limit=50).data()
    c.eq(api.ui_klines(symbol="ETHUSDT", interval="1h", end_time=start, limit=50).data(), k_end,
         "uiKlines = klines (endTime)")
    c.eq(k_end[-1][0], start, "klines endTime: the last row opens at endTime")

    # aggTrades and historicalTrades: each aggregate trade covers trades [f, l] at its price.
    agg = api.agg_trades(symbol="ETHUSDT", start_time=start, end_time=start + 10_000).data()
    c.check(len(agg) > 0, "aggTrades: trades in 10 s")
    c.eq([a.a for a in agg], list(range(agg[0].a, agg[0].a + len(agg))), "aggTrades: ids contiguous")
    c.check(all(start <= a.T <= start + 10_000 for a in agg), "aggTrades: inside [start, end]")
    ht = api.historical_trades(symbol="ETHUSDT", from_id=agg[0].f, limit=100).data()
    c.eq([t.id for t in ht], list(range(agg[0].f, agg[0].f + 100)), "historicalTrades: ids")
    by_id = {t.id: t for t in ht}
    for a in agg:
        covered = [by_id[i] for i in range(a.f, a.l + 1) if i in by_id]
        if len(covered) == a.l - a.f + 1:
            c.check(all(t.price == a.p and t.time == a.T for t in covered),
                    f"aggTrade {a.a}: its trades share its price and time")
            c.eq(sum(D(t.qty) for t in covered), D(a.q), f"aggTrade {a.a}: qty = its trades' qty")

    # /trades: the most recent trades, the same as historicalTrades for those ids.
    recent = api.get_trades(symbol="BTCUSDT", limit=200).data()
    c.eq(len(recent), 200, "trades: limit")
    ids = [t.id for t in recent]
    c.eq(ids, list(range(ids[0], ids[0] + 200)), "trades: ids contiguous")
    same = api.historical_trades(symbol="BTCUSDT", from_id=ids[0], limit=200).data()
    c.eq([t.to_dict() for t in same], [t.to_dict() for t in recent], "trades = historicalTrades")
    c.check(recent[-1].time <= api.time().data().server_time, "trades: the last is not in the future")
    newer = api.get_trades(symbol="BTCUSDT", limit=1).data()
    c.check(newer[0].id >= ids[-1], "trades: the most recent")

    # depth and bookTicker: best bid below best ask, one tick apart.
    d = api.depth(symbol="BTCUSDT", limit=20).data()
    bids = [D(p) for p, _ in d.bids]
    asks = [D(p) for p, _ in d.asks]
    c.eq(len(bids), 20, "depth: limit")
    c.check(bids == sorted(bids, reverse=True) and asks == sorted(asks), "depth: sorted sides")
    c.eq(asks[0] - bids[0], ticks["BTCUSDT"], "depth: spread of one tick")
    for sym in ("BTCUSDT", "XRPUSDT"):
        b = one(api.ticker_book_ticker(symbol=sym))
        c.eq(D(b.ask_price) - D(b.bid_price), ticks[sym], f"bookTicker {sym}: spread of one tick")
        c.check(D(b.bid_qty) > 0 and D(b.ask_qty) > 0, f"bookTicker {sym}: quantities")
    books = one(api.ticker_book_ticker(symbols=["XRPUSDT", "ETHUSDT"]))
    c.eq([b.symbol for b in books], ["XRPUSDT", "ETHUSDT"], "bookTicker symbols=[..]: in order")
    all_books = one(api.ticker_book_ticker())
    c.eq([b.symbol for b in all_books], names, "bookTicker: every symbol")

    # ticker/price: the current price, which is also the best bid (close to it in time here).
    prices = one(api.ticker_price())
    c.eq([p.symbol for p in prices], names, "ticker/price: every symbol, in exchangeInfo order")
    p = one(api.ticker_price(symbol="SOLUSDT"))
    b = one(api.ticker_book_ticker(symbol="SOLUSDT"))
    c.check(abs(D(p.price) - D(b.bid_price)) / D(p.price) < D("0.01"),
            f"ticker/price ~ bookTicker bid ({p.price} vs {b.bid_price})")
    c.eq([x.symbol for x in one(api.ticker_price(symbols=["SOLUSDT", "BTCUSDT"]))],
         ["SOLUSDT", "BTCUSDT"], "ticker/price symbols=[..]")

    # avgPrice: 5 minutes; a quantity-weighted mean of the trades just before closeTime.
    avg = api.avg_price(symbol="XRPUSDT").data()
    c.eq(avg.mins, 5, "avgPrice: mins")
    # Every aggregate trade of [closeTime - 5 min, closeTime], paged by id.
    window = api.agg_trades(symbol="XRPUSDT", start_time=avg.close_time - 300_000,
                            end_time=avg.close_time, limit=1000).data()
    page = window
    while len(page) == 1000:
        page = api.agg_trades(symbol="XRPUSDT", from_id=window[-1].a + 1,
                              end_time=avg.close_time, limit=1000).data()
        window += page
    c.check(len(window) > 0 and window[-1].T == avg.close_time,
            "avgPrice: closeTime is the time of a trade")
    lo, hi = min(D(a.p) for a in window), max(D(a.p) for a in window)
    c.check(lo <= D(avg.price) <= hi, f"avgPrice {avg.price} within the window's prices")
    wavg = sum(D(a.p) * D(a.q) for a in window) / sum(D(a.q) for a in window)
    c.check(abs(D(avg.price) - wavg) / wavg < D("0.001"),
            f"avgPrice {avg.price} ~ weighted mean {wavg:.8f} of the last 5 minutes' trades")

    # ticker/24hr: from the 1m candles of the last 24 h and the trades in them.
    for attempt in range(3):
        t = one(api.ticker24hr(symbol="BNBUSDT"))
        rows = []
        frm = t.open_time
        while frm <= t.close_time:
            page = api.klines(symbol="BNBUSDT", interval="1m", start_time=frm, limit=1000).data()
            rows += page
            if len(page) < 1000:
                break
            frm = page[-1][0] + minute
        # The minute may have turned between the two calls: the window moved; try again.
        if rows and rows[0][0] == t.open_time and rows[-1][0] == t.close_time // minute * minute:
            break
    c.eq(rows[0][0], t.open_time, "ticker/24hr: openTime is a 1m candle's open")
    c.eq(len(rows), 24 * 60 + 1, "ticker/24hr: 24 h of 1m candles and the open one")
    closed = rows[:-1]
    c.eq(t.open_price, rows[0][1], "ticker/24hr: openPrice = the first candle's open")
    c.eq(t.prev_close_price, rows[0][1], "ticker/24hr: prevClosePrice")
    c.check(D(t.high_price) >= max(D(r[2]) for r in closed), "ticker/24hr: highPrice")
    c.check(D(t.low_price) <= min(D(r[3]) for r in closed), "ticker/24hr: lowPrice")
    c.check(D(t.high_price) >= D(t.last_price) >= D(t.low_price), "ticker/24hr: low <= last <= high")
    vol = sum(D(r[5]) for r in closed)
    c.check(vol <= D(t.volume) <= vol + D(rows[-1][5]),
            "ticker/24hr: volume = the candles' (the open one prorated)")
    cnt = sum(r[8] for r in closed)
    c.check(cnt <= t.count <= cnt + rows[-1][8], "ticker/24hr: count = the candles' trades")
    c.eq(D(t.price_change), D(t.last_price) - D(t.open_price), "ticker/24hr: priceChange")
    pct = (D(t.last_price) - D(t.open_price)) / D(t.open_price) * 100
    c.check(abs(D(t.price_change_percent) - pct) <= D("0.00051"),
            "ticker/24hr: priceChangePercent (3 decimals)")
    c.check(D(t.low_price) <= D(t.weighted_avg_price) <= D(t.high_price),
            "ticker/24hr: weightedAvgPrice within low..high")
    c.check(abs(D(t.weighted_avg_price) - D(t.quote_volume) / D(t.volume)) <= D("0.00000001"),
            "ticker/24hr: weightedAvgPrice = quoteVolume / volume (to 1e-8)")
    c.eq(t.bid_price, t.last_price, "ticker/24hr: the last price is the best bid")
    c.eq(D(t.ask_price) - D(t.bid_price), ticks["BNBUSDT"], "ticker/24hr: spread of one tick")
    first = api.agg_trades(symbol="BNBUSDT", start_time=t.open_time, limit=1).data()[0]
    c.eq(t.first_id, first.f, "ticker/24hr: firstId = the first trade of the window")
    last = api.historical_trades(symbol="BNBUSDT", from_id=t.last_id, limit=1).data()[0]
    c.eq(last.id, t.last_id, "ticker/24hr: lastId is a trade")
    c.eq(last.qty, t.last_qty, "ticker/24hr: lastQty is the last trade's")
    c.check(last.time <= t.close_time, "ticker/24hr: the last trade is inside the window")
    mini = one(api.ticker24hr(symbol="BNBUSDT", type="MINI"))
    c.eq(set(mini.to_dict()), {"symbol", "openPrice", "highPrice", "lowPrice", "lastPrice",
                                "volume", "quoteVolume", "openTime", "closeTime", "firstId",
                                "lastId", "count"}, "ticker/24hr MINI: its fields")
    if mini.open_time == t.open_time:  # the same window (no minute turned meanwhile)
        c.eq(mini.open_price, t.open_price, "ticker/24hr MINI: openPrice as FULL's")
    many = one(api.ticker24hr(symbols=["ETHUSDT", "BNBUSDT"], type="FULL"))
    c.eq([x.symbol for x in many], ["ETHUSDT", "BNBUSDT"], "ticker/24hr symbols=[..]: in order")
    every = one(api.ticker24hr(type="MINI"))
    c.eq([x.symbol for x in every], names, "ticker/24hr: every symbol")

    # /sapi/v1/system/status through the wallet SDK.
    st = wallet.system_status().data()
    c.eq((st.status, st.msg), (0, "normal"), "system/status")


def check_errors(c, api, BadRequestError, ClientError, NotFoundError, send_request):
    def raised(fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001: the type is what is checked
            return e
        return None

    e = raised(lambda: api.klines(symbol="NOPEUSDT", interval="1m"))
    c.check(isinstance(e, BadRequestError) and e.status_code == -1121 and
            e.error_message == "Invalid symbol.", f"unknown symbol: BadRequestError -1121 ({e!r})")
    e = raised(lambda: api.ticker24hr(symbols=["BTCUSDT", "NOPEUSDT"]))
    c.check(isinstance(e, BadRequestError) and e.status_code == -1121,
            f"unknown symbol in symbols: BadRequestError -1121 ({e!r})")
    e = raised(lambda: api.ticker_price(symbols=["BTCUSDT", "BTCUSDT"]))
    c.check(isinstance(e, BadRequestError) and e.status_code == -1101,
            f"a symbol twice: BadRequestError -1101 ({e!r})")
    # The SDK's own request function, as its endpoint methods call it (its public
    # RestAPI.send_request fails in 13.3.0 before sending: "'function' object is not
    # subscriptable"); a tuple value is sent as the parameter repeated
    # (?symbol=BTCUSDT&symbol=ETHUSDT).
    e = raised(lambda: send_request(api._session, api.configuration, "GET", "/api/v3/depth",
                                    payload={"symbol": ("BTCUSDT", "ETHUSDT")}))
    c.check(isinstance(e, BadRequestError) and e.status_code == -1101 and
            e.error_message == "Duplicate values for a parameter detected.",
            f"a parameter twice: BadRequestError -1101 ({e!r})")
    e = raised(lambda: api.klines(symbol="BTCUSDT", interval="1m", start_time=99999999999999999999))
    c.check(isinstance(e, BadRequestError) and e.status_code == -1108 and
            "out of range" in e.error_message, f"a 20-digit startTime: -1108 ({e!r})")
    e = raised(lambda: send_request(api._session, api.configuration, "GET", "/api/v3/nope"))
    c.check(isinstance(e, NotFoundError) and e.status_code == -1000 and e.error_message,
            f"unknown path: NotFoundError with Binance's code ({e!r})")
    e = raised(lambda: send_request(api._session, api.configuration, "POST", "/api/v3/klines"))
    c.check(isinstance(e, ClientError) and e.error_message == "Method POST not allowed.",
            f"wrong method: ClientError with the message ({e!r})")


if __name__ == "__main__":
    sys.exit(main())
