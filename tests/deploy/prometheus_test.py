#!/usr/bin/env python3
"""A real Prometheus server scrapes a real StreamForge workflow (CTest deploy_prometheus).

  prometheus_test.py --bin build/bin/streamforge --kafka-dir DIR

On 127.0.0.1, free ports, a temporary directory:
  1. `streamforge sim` (the exchange simulator) and `streamforge up --bus kafka://B
     --launcher process` on the broker of the `kafka` fixture (DIR/bootstrap), with topics
     and a consumer group of its own so that parallel tests do not meet;
  2. Debian's `prometheus` with a temporary configuration: the manager's /metrics as a
     static target, the worker processes' /metrics through a file_sd file this script
     fills from the workers' logs ("metrics http://127.0.0.1:PORT/metrics", docs/workers.md),
     and deploy/monitoring/streamforge-rules.yml as its rule file;
  3. a workflow of one day of BTCUSDT 1m candles (1440) from the simulator: a loader and two
     store-connectors, each in its own consumer group and collection. Each connector is told
     to expect two end-of-data markers (`end_markers: 2`), so after the loader's one it has
     written all 1440 candles and keeps running, its metrics still served: Prometheus then
     sees the final count for certain, where a connector that exits right after its last
     batch may end between two scrapes;
  4. /api/v1/query until streamforge_connector_records_written_total is 1440 on each of the
     two connector processes (2880 in all), with the manager's queues-started counter at 1;
     every rule loaded and evaluated without error; every Grafana panel's query accepted;
     every log line of the manager and the workers readable by the Fluent Bit parser;
  5. the workflow stopped (its connectors end interrupted), then the manager, Prometheus and
     the simulator stopped by pid, and no worker process left (their pids from the manager's
     log). The temporary directory is removed.
Exit 0 on success, 1 with the reason on stderr.
"""
import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import deploy_test as dt  # noqa: E402  (shared helpers: processes, log checks, paths)

CANDLES = 1440  # 2024-08-01, one BTCUSDT candle a minute
CONNECTORS = ("connector-a", "connector-b")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prom_query(base, expr):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read().decode())
    except urllib.error.HTTPError as e:  # 400: a query Prometheus refuses
        return json.loads(e.read().decode())


def prom_vector(base, expr):
    """{tuple(sorted labels): value} of an instant vector query."""
    r = prom_query(base, expr)
    if r.get("status") != "success":
        dt.fail(f"query {expr!r}: {r}")
    return {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in r["data"]["result"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--kafka-dir", required=True)
    args = ap.parse_args()
    for tool in ("prometheus",):
        if not shutil.which(tool):
            dt.fail(f"{tool} is not installed: run scripts/bootstrap (Debian package prometheus)")
    bootstrap = Path(args.kafka_dir) / "bootstrap"
    if not bootstrap.exists():
        dt.fail(f"no {bootstrap}: the kafka fixture (kafka_broker_start) did not run")
    broker = bootstrap.read_text().strip()

    tmp = Path(tempfile.mkdtemp(prefix="sf-deploy-prom-"))
    procs = dt.Procs()
    tag = f"sf-prom-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        def start(name, cmd):
            out, err = tmp / f"{name}.out", tmp / f"{name}.err"
            return procs.start(cmd, open(out, "w"), open(err, "w")), out, err

        sim, sim_out, _ = start("sim", [args.bin, "sim", "--port", "0"])
        sim_url = dt.wait_for_url(sim_out, r"listening on (http://\S+)", sim, "streamforge sim")
        data = tmp / "data"
        mgr, mgr_out, mgr_err = start("manager", [
            args.bin, "up", "--port", "0", "--data-dir", data, "--bus", f"kafka://{broker}",
            "--launcher", "process", "--exchange-url", sim_url,
            "--control-topic", f"{tag}-control", "--events-topic", f"{tag}-events",
            "--consumer-group", f"{tag}-manager",
            # The connectors idle after their data; nothing may count them lost meanwhile.
            "--heartbeat-timeout", "600"])
        url = dt.wait_for_url(mgr_out, r"listening on (http://\S+)", mgr, "streamforge up", 60)
        manager_target = urllib.parse.urlparse(url).netloc

        # Prometheus: 1 s scrapes; workers found through a file_sd file.
        sd = tmp / "workers.json"
        sd.write_text("[]")
        cfg = tmp / "prometheus.yml"
        cfg.write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {dt.RULES}
scrape_configs:
  - job_name: streamforge
    static_configs:
      - targets: ["{manager_target}"]
  - job_name: streamforge-workers
    file_sd_configs:
      - files: ["{sd}"]
        refresh_interval: 1s
""")
        prom = None
        for _attempt in range(3):  # a free port may be taken between the probe and the bind
            port = free_port()
            prom, _, prom_err = start("prometheus", [
                "prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"])
            base = f"http://127.0.0.1:{port}"
            deadline = time.time() + 30
            while time.time() < deadline and prom.poll() is None:
                try:
                    with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.2)
            if prom.poll() is None:
                break
        else:
            dt.fail(f"prometheus did not start:\n{prom_err.read_text()}")
        print(f"prometheus {base}, manager {url}, simulator {sim_url}, broker {broker}")

        # The workflow.
        topic = f"{tag}-data"
        connector = {"target": "store-connector", "kafka_topic": topic, "end_markers": 2}
        body = {"queue_id": tag, "symbol": "BTCUSDT", "type": "api_candles_1m",
                "time_range": "2024-08-01:2024-08-02",
                "targets": [{"target": "loader-producer", "telemetry_id": "loader",
                             "kafka_topic": topic},
                            dict(connector, telemetry_id=CONNECTORS[0],
                                 collection_name="btcusdt_candles_1m",
                                 consumer_group=f"{tag}-a"),
                            dict(connector, telemetry_id=CONNECTORS[1],
                                 collection_name="btcusdt_candles_1m_copy",
                                 consumer_group=f"{tag}-b")]}
        try:
            dt.http_json(f"{url}/queues/start", body)
        except urllib.error.HTTPError as e:
            dt.fail(f"POST /queues/start: {e.code} {e.read().decode()}")

        # Feed Prometheus the workers' metrics addresses as their logs name them, and wait
        # for the counter.
        logs = data / "logs" / tag
        targets = {}
        expr = "streamforge_connector_records_written_total"
        deadline, per_worker = time.time() + 150, {}
        while True:
            for f in sorted(logs.glob("*.log")) if logs.exists() else []:
                m = re.search(r"metrics (http://127\.0\.0\.1:\d+)/metrics", f.read_text(errors="replace"))
                if m and f.stem not in targets:
                    targets[f.stem] = urllib.parse.urlparse(m.group(1)).netloc
                    tmp_sd = sd.with_suffix(".tmp")
                    tmp_sd.write_text(json.dumps(
                        [{"targets": [t], "labels": {"telemetry_id": n}} for n, t in targets.items()]))
                    os.replace(tmp_sd, sd)  # file_sd reads whole files only
            per_worker = {dict(k).get("telemetry_id"): v
                          for k, v in prom_vector(base, f'{expr}{{job="streamforge-workers"}}').items()}
            if all(per_worker.get(c) == CANDLES for c in CONNECTORS):
                break
            if time.time() > deadline:
                q = dt.http_json(f"{url}/queues/{tag}")
                dt.fail(f"Prometheus never showed {CANDLES} records written by each connector: "
                        f"{per_worker}; workers found {targets}; queue {q['status']}: {q.get('message')}")
            if mgr.poll() is not None:
                dt.fail(f"the manager exited {mgr.returncode}:\n{mgr_err.read_text()}")
            time.sleep(0.5)
        total = prom_vector(base, f"sum({expr})")
        if list(total.values()) != [2.0 * CANDLES]:
            dt.fail(f"sum({expr}) is {total}, not {2 * CANDLES}")
        print(f"ok: Prometheus answers {expr}: {per_worker} (sum {2 * CANDLES}) from "
              f"{len(targets)} worker processes ({', '.join(sorted(targets))})")
        # The manager's own target (scraped on its own schedule within the interval), and
        # every target but the loader (which may have ended) up.
        deadline = time.time() + 30
        while True:
            started = prom_vector(base, 'streamforge_manager_queues_started_total{job="streamforge"}')
            up = prom_vector(base, "up")
            connectors_up = [k for k, v in up.items()
                             if dict(k).get("telemetry_id") in CONNECTORS and v == 1.0]
            manager_up = [k for k, v in up.items() if dict(k).get("job") == "streamforge" and v == 1.0]
            if list(started.values()) == [1.0] and len(connectors_up) == 2 and manager_up:
                break
            if time.time() > deadline:
                dt.fail(f"streamforge_manager_queues_started_total is {started} (not 1) or not "
                        f"every target is up (the manager and both connectors must be): {up}")
            time.sleep(0.5)
        print(f"ok: the manager's queues-started counter is 1; the manager and both connectors up")

        # The rules: loaded from deploy/monitoring and evaluated without error by this server,
        # at least once after the workers' series appeared.
        since = time.time()
        deadline = since + 30
        while True:
            with urllib.request.urlopen(f"{base}/api/v1/rules", timeout=10) as r:
                rules = [rule for g in json.loads(r.read().decode())["data"]["groups"]
                         for rule in g["rules"]]
            bad = [f"{r['name']}: {r.get('health')} {r.get('lastError', '')}" for r in rules
                   if r.get("health") != "ok"]
            evaluated = time.time() - since > 2.5  # the 1 s evaluation interval, twice over
            if rules and not bad and evaluated:
                break
            if time.time() > deadline:
                dt.fail(f"rules not all evaluated ok ({len(rules)} loaded): {bad}")
            time.sleep(0.5)
        print(f"ok: {len(rules)} alerting rules of {dt.RULES.name} evaluated without error")

        # Every Grafana panel's query, with the dashboard's variables as "All".
        dash = json.loads(dt.DASHBOARD.read_text())
        n = 0
        for p in dash["panels"]:
            for t in p.get("targets", []):
                q = (t["expr"].replace("$__rate_interval", "1m").replace("$namespace", ".*")
                     .replace("$job", ".*"))
                r = prom_query(base, q)
                if r.get("status") != "success":
                    dt.fail(f"dashboard panel {p['title']!r}: query {q!r} refused: {r.get('error')}")
                n += 1
        print(f"ok: {n} Grafana panel queries accepted")

        # Stop the workflow: both connectors end interrupted.
        dt.http_json(f"{url}/queues/stop", {"queue_id": tag})
        deadline = time.time() + 60
        while (q := dt.http_json(f"{url}/queues/{tag}"))["status"] not in ("interrupted", "error", "finished"):
            if time.time() > deadline:
                dt.fail(f"queue {tag} did not end after stop: {q['status']}")
            time.sleep(0.2)
        print(f"ok: queue {tag} {q['status']}: {q.get('message', '')}")

        # Logs: the manager's stderr and every worker's log file, through the parser.
        time_key, time_format = dt.fluent_bit_parser()
        worker_pids = [int(p) for p in re.findall(r"as pid (\d+)", mgr_err.read_text())]
        rc = procs.stop(mgr, timeout=30)
        if rc not in (0, -15):
            dt.fail(f"the manager exited {rc} on SIGTERM:\n{mgr_err.read_text()[-3000:]}")
        lines = len(dt.check_log_lines(mgr_err.read_text(), "manager stderr", time_key, time_format))
        for f in sorted(logs.glob("*.log")):
            lines += len(dt.check_log_lines(f.read_text(), f"worker log {f.name}", time_key,
                                            time_format))
        print(f"ok: {lines} log lines of the manager and its workers parse with streamforge_json")
        if len(worker_pids) != 3:
            dt.fail(f"the manager's log names {len(worker_pids)} launched workers, not 3")
        left = [p for p in worker_pids if Path(f"/proc/{p}").exists()]
        if left:
            dt.fail(f"worker processes outlived their manager: {left}")
        procs.stop_all()
        print("ok: every process stopped")
        print("PASS")
        return 0
    except dt.Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        for name in ("manager.err", "prometheus.err"):
            f = tmp / name
            if f.exists():
                print(f"--- {name} (last 40 lines)", file=sys.stderr)
                print("\n".join(f.read_text(errors="replace").splitlines()[-40:]), file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except dt.Failure as e:  # before the stack started
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
