#!/usr/bin/env python3
"""Tests of deploy/ (tests/deploy/CMakeLists.txt registers each mode as a CTest test).

  deploy_test.py rules-sync       prometheusrule.yaml is streamforge-rules.yml under `spec:`
  deploy_test.py sync-rules       rewrites prometheusrule.yaml from streamforge-rules.yml
  deploy_test.py metrics          every StreamForge metric the rules and the dashboard use
                                  is registered in src/
  deploy_test.py coverage         every deploy/ YAML, .env and .json file is applied by the
                                  kube mode (or named with its reason); vendored files as
                                  published (git blob ids in deploy/crds/README.md)
  deploy_test.py packages --bin B --plugin P
                                  deploy/Dockerfile's runtime packages exist in Debian 12
                                  and hold every shared library B and P load
  deploy_test.py config --bin B   the ConfigMaps', Deployments' and KEDA connector's
                                  variables and flags are names B reads; the embedded
                                  overlay's configuration starts B's manager (/health
                                  without the token, /metrics with it)
  deploy_test.py logs --bin B     B's log lines match the Fluent Bit parser
  deploy_test.py kube --kube-dir D
                                  the vendored CRDs installed into the API server of the
                                  `kube` fixture (D: url, ca.crt, admin-token, kubeconfig),
                                  every Kustomize root applied there with --dry-run=server in
                                  a fresh namespace, the launcher's RBAC applied for real
                                  and probed with `kubectl auth can-i`

Python 3 standard library only. Exit 0 on success, 1 on a failure (with the reason on
stderr). Every process it starts is stopped by pid; temporary directories are removed.
"""
import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
RULES = DEPLOY / "monitoring" / "streamforge-rules.yml"
PROMETHEUSRULE = DEPLOY / "monitoring" / "prometheusrule.yaml"
DASHBOARD = DEPLOY / "monitoring" / "grafana-dashboard.json"
PARSERS = DEPLOY / "monitoring" / "fluent-bit" / "parsers.conf"
DOCKERFILE = DEPLOY / "Dockerfile"

# What the kube mode applies: each a Kustomize root (a folder with kustomization.yaml).
# deploy/base is applied through both overlays.
CRD_ROOT = "deploy/crds"
APPLY_ROOTS = ["deploy/overlays/embedded", "deploy/overlays/cluster", "deploy/keda",
               "deploy/monitoring"]

# deploy/ files of the checked kinds that no apply reaches, and why.
NOT_APPLIED = {
    "deploy/monitoring/streamforge-rules.yml":
        "a Prometheus rules file, not a manifest: promtool checks and tests it "
        "(deploy_rules_check, deploy_rules_unit) and prometheusrule.yaml, which is applied, "
        "carries it (deploy_rules_sync)",
}
CHECKED_SUFFIXES = (".yaml", ".yml", ".env", ".json")

# Metrics the rules and the dashboard may use that StreamForge does not export.
EXTERNAL_METRICS = {
    "kafka_consumergroup_lag": "the Kafka exporter on the Kafka cluster",
    "up": "Prometheus itself",
}

LOG_FIELDS_REQUIRED = ("time", "level", "service", "message")
LOG_FIELDS_OPTIONAL = ("queue_id",)
LOG_LEVELS = ("debug", "info", "warn", "error")


class Failure(Exception):
    pass


def fail(msg):
    raise Failure(msg)


def run(cmd, check=True, **kw):
    """Runs cmd (a list), returns the CompletedProcess; text output captured."""
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        fail(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{p.stdout}{p.stderr}")
    return p


# ---------------------------------------------------------------------------------------
# rules-sync, sync-rules

PROMETHEUSRULE_HEADER = """\
# The alerting rules of streamforge-rules.yml for the Prometheus Operator. Generated: the
# lines after `spec:` are that file indented by two spaces (tests/deploy checks they match;
# regenerate with `python3 tests/deploy/deploy_test.py sync-rules`). Edit the .yml file.
# The label `release` is what kube-prometheus-stack's Prometheus selects rules by by default
# (its ruleSelector); set it to your Prometheus's selector.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: streamforge
  labels:
    app.kubernetes.io/name: streamforge
    release: kube-prometheus-stack
spec:
"""


def expected_prometheusrule():
    body = "".join(("  " + line) if line.strip() else line
                   for line in RULES.read_text().splitlines(keepends=True))
    return PROMETHEUSRULE_HEADER + body


def mode_rules_sync(_args):
    want = expected_prometheusrule()
    if PROMETHEUSRULE.read_text() != want:
        fail(f"{PROMETHEUSRULE.relative_to(REPO)} differs from {RULES.relative_to(REPO)} "
             "indented under spec: (run `python3 tests/deploy/deploy_test.py sync-rules`)")
    print(f"ok: {PROMETHEUSRULE.relative_to(REPO)} carries {RULES.relative_to(REPO)}")


def mode_sync_rules(_args):
    PROMETHEUSRULE.write_text(expected_prometheusrule())
    print(f"wrote {PROMETHEUSRULE.relative_to(REPO)}")


# ---------------------------------------------------------------------------------------
# metrics

METRIC_RE = re.compile(r"\b((?:streamforge|process|kafka)_[a-z0-9_]+)\b")


def used_metrics():
    """{metric: [where]} from the rules' expressions and the dashboard's queries."""
    used = {}
    expr_lines, block_indent = [], None  # inside a `expr: |` block: the key's indentation
    for line in RULES.read_text().splitlines():
        s = line.strip()
        indent = len(line) - len(line.lstrip())
        if s.startswith("expr:"):
            expr_lines.append(s[5:])
            block_indent = indent if s.endswith("|") else None
        elif block_indent is not None and (not s or indent > block_indent):
            expr_lines.append(s)
        else:
            block_indent = None
    for e in expr_lines:
        for m in METRIC_RE.findall(e):
            used.setdefault(m, []).append(RULES.name)
    dash = json.loads(DASHBOARD.read_text())
    for p in dash["panels"]:
        for t in p.get("targets", []):
            for m in METRIC_RE.findall(t["expr"]):
                used.setdefault(m, []).append(f"{DASHBOARD.name}: {p['title']}")
    return used


def registered_metrics():
    """Names registered in src/ (a quoted metric name in a non-test source file)."""
    names = set()
    for f in list((REPO / "src").rglob("*.cc")) + list((REPO / "src").rglob("*.h")):
        if f.name.endswith("_test.cc"):
            continue
        names.update(re.findall(r'"((?:streamforge|process)_[a-z0-9_]+)"', f.read_text()))
    return names


def mode_metrics(_args):
    used, have = used_metrics(), registered_metrics()
    missing = []
    for m, where in sorted(used.items()):
        if m in EXTERNAL_METRICS:
            continue
        base = re.sub(r"_(bucket|sum|count)$", "", m)
        if m in have or base in have:
            continue
        missing.append(f"  {m}  (used by {', '.join(sorted(set(where)))})")
    if missing:
        fail("metrics used by deploy/monitoring that nothing in src/ registers:\n" +
             "\n".join(missing) +
             "\n(docs/deploy.md, \"Alerts\", says which code should export them)")
    print(f"ok: {len(used)} metrics used, each registered in src/ or external "
          f"({', '.join(sorted(EXTERNAL_METRICS))})")


# ---------------------------------------------------------------------------------------
# coverage

def kustomization_refs(d):
    """Existing files and folders a kustomization.yaml in folder d names (resources,
    patches' paths, generators' files and envs): every list item or `path:` value that is
    a path that exists relative to d."""
    k = d / "kustomization.yaml"
    if not k.exists():
        fail(f"{d.relative_to(REPO)} has no kustomization.yaml")
    refs = []
    for line in k.read_text().splitlines():
        line = line.split(" #", 1)[0].rstrip()
        m = re.match(r"^\s*-\s+([^\s:]+|\.\.?/\S+)$", line) or \
            re.match(r"^\s*(?:-\s+)?path:\s*(\S+)$", line)
        if not m:
            continue
        p = (d / m.group(1).strip("'\"")).resolve()
        if p.exists():
            refs.append(p)
    return refs


def reachable(root):
    """(files, kustomization folders) reached from the Kustomize root folder."""
    files, dirs, todo = set(), set(), [(REPO / root).resolve()]
    while todo:
        d = todo.pop()
        if d in dirs:
            continue
        dirs.add(d)
        files.add(d / "kustomization.yaml")
        for p in kustomization_refs(d):
            if p.is_dir():
                todo.append(p)
            else:
                files.add(p)
    return files, dirs


def git_blob_id(path):
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def mode_coverage(_args):
    covered, kdirs = set(), set()
    for root in [CRD_ROOT] + APPLY_ROOTS:
        f, d = reachable(root)
        covered |= f
        kdirs |= d
    problems = []
    for p in sorted(DEPLOY.rglob("*")):
        if not p.is_file() or not p.name.endswith(CHECKED_SUFFIXES):
            continue
        rel = str(p.relative_to(REPO))
        if p.resolve() in covered or rel in NOT_APPLIED:
            continue
        problems.append(f"  {rel}: no Kustomize root of the kube test reaches it; add it to a "
                        "kustomization.yaml (or to NOT_APPLIED in tests/deploy/deploy_test.py "
                        "with the reason)")
    for k in sorted(DEPLOY.rglob("kustomization.yaml")):
        if k.parent.resolve() not in kdirs:
            problems.append(f"  {k.relative_to(REPO)}: not reached from {APPLY_ROOTS}")
    for rel in NOT_APPLIED:
        if not (REPO / rel).exists():
            problems.append(f"  {rel}: named in NOT_APPLIED but gone")
    # The vendored files are as published: the README's table names each with its git blob.
    readme = DEPLOY / "crds" / "README.md"
    listed = 0
    for line in readme.read_text().splitlines():
        m = re.match(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{40})` \|$", line)
        if not m:
            continue
        listed += 1
        f = DEPLOY / "crds" / m.group(1)
        if not f.exists():
            problems.append(f"  deploy/crds/{m.group(1)}: listed in README.md but missing")
        elif git_blob_id(f) != m.group(2):
            problems.append(f"  deploy/crds/{m.group(1)}: changed since it was vendored "
                            f"(blob {git_blob_id(f)}, README.md says {m.group(2)})")
    vendored = [p for p in (DEPLOY / "crds").rglob("*")
                if p.is_file() and p.parent != DEPLOY / "crds"]
    if listed != len(vendored):
        problems.append(f"  deploy/crds: {len(vendored)} vendored files, {listed} in README.md's table")
    for sub in ("keda", "prometheus-operator"):
        if not (DEPLOY / "crds" / sub / "LICENSE").exists():
            problems.append(f"  deploy/crds/{sub}/LICENSE missing")
    if problems:
        fail("deploy/ files not covered:\n" + "\n".join(problems))
    print(f"ok: every deploy/ file of {CHECKED_SUFFIXES} is applied from "
          f"{[CRD_ROOT] + APPLY_ROOTS} or named in NOT_APPLIED; {listed} vendored files as "
          "published")


# ---------------------------------------------------------------------------------------
# packages

def dockerfile_runtime_packages():
    text = DOCKERFILE.read_text()
    m = re.search(r"# runtime-packages:begin\n(.*?)# runtime-packages:end", text, re.S)
    if not m:
        fail("deploy/Dockerfile has no '# runtime-packages:begin' ... ':end' block")
    pkgs = []
    for line in m.group(1).splitlines():
        line = line.split("#", 1)[0].replace("\\", " ")
        pkgs += [w for w in line.split() if re.match(r"^[a-z0-9][a-z0-9.+-]+$", w)]
    return pkgs, text


_DPKG_FILES = None


def lib_owner(path):
    """The Debian package that holds the file path, from dpkg's file lists (what `dpkg -S`
    reads, loaded once: hundreds of `dpkg -S` calls take minutes), trying both sides of
    usrmerge (/lib is /usr/lib; dpkg knows the path its package shipped)."""
    global _DPKG_FILES
    if _DPKG_FILES is None:
        _DPKG_FILES = {}
        for lst in Path("/var/lib/dpkg/info").glob("*.list"):
            pkg = lst.name[:-len(".list")].split(":", 1)[0]
            for f in lst.read_text(errors="replace").splitlines():
                _DPKG_FILES.setdefault(f, pkg)
    candidates = [path, os.path.realpath(path)]
    for c in list(candidates):
        candidates.append(c[4:] if c.startswith("/usr/") else "/usr" + c)
    for c in candidates:
        if c in _DPKG_FILES:
            return _DPKG_FILES[c]
    return None


def shared_libraries(binary):
    """(direct, closure) for binary: {package: {library}} of the libraries it names itself
    (readelf's NEEDED) and of every library ldd loads for it."""
    resolved = {}
    for line in run(["ldd", str(binary)]).stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            fail(f"ldd {binary}: {line}")
        m = re.match(r"^(\S+) => (/\S+) \(", line) or re.match(r"^((/\S+)) \(", line)
        if m:  # linux-vdso.so.1 has no file: the kernel's
            resolved[os.path.basename(m.group(1))] = m.group(2)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                        run(["readelf", "-d", str(binary)]).stdout)
    direct, closure = {}, {}
    for name, path in resolved.items():
        if str(REPO) in os.path.realpath(path):
            fail(f"{binary} loads {path} from the build tree, which the image does not have")
        owner = lib_owner(path)
        if owner is None:
            fail(f"no Debian package owns {path} (loaded by {binary})")
        closure.setdefault(owner, set()).add(name)
        if name in needed:
            direct.setdefault(owner, set()).add(name)
    missing = [n for n in needed if n not in resolved]
    if missing:
        fail(f"{binary} needs {missing}, which ldd did not resolve")
    return direct, closure


def apt_closure(pkgs):
    """The packages apt installs for pkgs: themselves and their dependencies, recursively."""
    out = run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
               "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *pkgs]).stdout
    return {line.strip() for line in out.splitlines()
            if line and not line[0].isspace() and not line.startswith("<")}


def mode_packages(args):
    listed, text = dockerfile_runtime_packages()
    problems = []
    if not listed:
        problems.append("the runtime-packages block lists no package")
    # One apt-cache call for all (each costs seconds): a record per package it knows.
    show = run(["apt-cache", "show", "--no-all-versions", *listed], check=False)
    known = set(re.findall(r"(?m)^Package: (\S+)$", show.stdout))
    for p in listed:
        if p.endswith("-dev"):
            problems.append(f"{p}: a -dev package in the runtime image (the build stage's)")
        if p not in known:
            problems.append(f"{p}: not a Debian 12 package here (apt-cache show: "
                            f"{show.stderr.strip() or 'no record'})")
    direct, closure = {}, {}
    for b in (args.bin, args.plugin):
        d, c = shared_libraries(b)
        for pkg, libs in d.items():
            direct.setdefault(pkg, set()).update(libs)
        for pkg, libs in c.items():
            closure.setdefault(pkg, set()).update(libs)
    # The libraries the two files name themselves: their packages, listed explicitly.
    for pkg, libs in sorted(direct.items()):
        if pkg not in listed:
            problems.append(f"{pkg}: holds {', '.join(sorted(libs))}, which the binary or the "
                            "plugin links directly, but is not in the runtime packages")
    # Everything else ldd loads: brought in by apt as a dependency of the listed ones.
    installed = apt_closure([p for p in listed if p])
    for pkg, libs in sorted(closure.items()):
        if pkg not in installed:
            problems.append(f"{pkg}: holds {', '.join(sorted(libs))} (loaded indirectly), "
                            "which no runtime package depends on")
    # Nothing listed without a reason: a library package, or a comment saying what it is.
    for pkg in listed:
        if pkg not in direct and not re.search(rf"(?m)^# not a library: {re.escape(pkg)}\b", text):
            problems.append(f"{pkg}: listed, but neither file links a library of it (remove "
                            f"it, or say why with a line '# not a library: {pkg}, ...')")
    # Where the plugin goes must be where the binary looks (src/gnn/client.cc: the
    # executable's folder, then ../lib/streamforge).
    client = (REPO / "src/gnn/client.cc").read_text()
    if '"lib" / "streamforge"' not in client:
        problems.append("src/gnn/client.cc no longer looks in ../lib/streamforge: update the "
                        "Dockerfile's plugin path")
    for want in ("/usr/local/bin/streamforge", "/usr/local/lib/streamforge/libsf_gnn_plugin.so"):
        if want not in text:
            problems.append(f"deploy/Dockerfile does not install {want}")
    if problems:
        fail("deploy/Dockerfile's runtime packages:\n  " + "\n  ".join(problems) +
             "\nlinked directly (from readelf and dpkg -S): " + " ".join(sorted(direct)))
    print(f"ok: {len(listed)} runtime packages, all in Debian 12; the {len(direct)} that hold "
          "the libraries streamforge and libsf_gnn_plugin.so link are listed, and apt's "
          f"dependencies of them hold all {sum(len(v) for v in closure.values())} libraries "
          f"ldd loads ({len(closure)} packages)")


# ---------------------------------------------------------------------------------------
# logs

def fluent_bit_parser(name="streamforge_json"):
    """(time_key, python strptime format) of the named [PARSER] in parsers.conf."""
    sections, cur = [], None
    for line in PARSERS.read_text().splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("["):
            cur = {"_section": s}
            sections.append(cur)
        elif cur is not None:
            k, _, v = s.partition(" ")
            cur[k.lower()] = v.strip()
    for sec in sections:
        if sec["_section"] == "[PARSER]" and sec.get("name") == name:
            if sec.get("format") != "json":
                fail(f"parser {name} is not Format json")
            # Fluent Bit's %L is the fractional seconds; Python's %f reads 1 to 6 digits.
            return sec["time_key"], sec["time_format"].replace("%L", "%f")
    fail(f"no [PARSER] {name} in {PARSERS}")


def check_log_lines(text, origin, time_key, time_format):
    """Every non-empty line of text must be a log object the parser reads. Returns the
    objects."""
    objs = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            o = json.loads(line)
        except ValueError:
            fail(f"{origin}:{n}: not JSON: {line!r}")
        if not isinstance(o, dict):
            fail(f"{origin}:{n}: not a JSON object: {line!r}")
        keys = set(o)
        missing = [k for k in LOG_FIELDS_REQUIRED if k not in keys]
        extra = keys - set(LOG_FIELDS_REQUIRED) - set(LOG_FIELDS_OPTIONAL)
        if missing or extra:
            fail(f"{origin}:{n}: fields missing {missing} / undocumented {sorted(extra)}: {line!r}")
        if any(not isinstance(o[k], str) for k in keys):
            fail(f"{origin}:{n}: a field is not a string: {line!r}")
        try:
            datetime.strptime(o[time_key], time_format)
        except ValueError as e:
            fail(f"{origin}:{n}: {time_key} {o[time_key]!r} does not match the parser's "
                 f"Time_Format ({e})")
        if o["level"] not in LOG_LEVELS:
            fail(f"{origin}:{n}: level {o['level']!r} is not one of {LOG_LEVELS}")
        objs.append(o)
    return objs


class Procs:
    """Processes started by a test: each stopped by its pid (SIGTERM, then SIGKILL)."""

    def __init__(self):
        self.procs = []

    def start(self, cmd, stdout, stderr, env=None):
        p = subprocess.Popen([str(c) for c in cmd], stdout=stdout, stderr=stderr,
                             stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self, p, timeout=15):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)


def wait_for_url(path, pattern, proc, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, Path(path).read_text(errors="replace"))
        if m:
            return m.group(1)
        if proc.poll() is not None:
            fail(f"{what} exited {proc.returncode} before it listened:\n{Path(path).read_text()}")
        time.sleep(0.1)
    fail(f"{what} did not print its address within {timeout} s")


def http_json(url, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read().decode())


def mode_logs(args):
    time_key, time_format = fluent_bit_parser()
    tmp = Path(tempfile.mkdtemp(prefix="sf-deploy-logs-"))
    procs = Procs()
    try:
        outs = {}

        def start(name, cmd, env=None):
            out, err = tmp / f"{name}.out", tmp / f"{name}.err"
            outs[name] = err
            return procs.start(cmd, open(out, "w"), open(err, "w"), env), out

        sim, sim_out = start("sim", [args.bin, "sim", "--port", "0"])
        sim_url = wait_for_url(sim_out, r"listening on (http://\S+)", sim, "streamforge sim")
        mgr, mgr_out = start("manager", [args.bin, "up", "--port", "0", "--data-dir", tmp / "data",
                                         "--exchange-url", sim_url])
        url = wait_for_url(mgr_out, r"listening on (http://\S+)", mgr, "streamforge up")
        # A workflow, so the manager and its (in-process) workers log lines with a queue_id.
        q = http_json(f"{url}/queues/start-test-flow",
                      {"flow_name": "historical_candles", "symbol": "BTCUSDT",
                       "time_range": "2024-08-01:2024-08-01T02:00"})
        qid = q["queue_id"]
        deadline = time.time() + 60
        while http_json(f"{url}/queues/{qid}")["status"] not in ("finished", "error", "interrupted"):
            if time.time() > deadline:
                fail(f"queue {qid} did not end within 60 s")
            time.sleep(0.2)
        # A worker process that refuses its configuration logs its error line too (exit 3).
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp)}
        w, _ = start("worker", [args.bin, "worker", "dummy-service"], env=env)
        if w.wait(30) != 3:
            fail(f"`streamforge worker dummy-service` without configuration exited {w.returncode}, not 3")
        procs.stop_all()
        total, with_queue = 0, 0
        for name, err in outs.items():
            objs = check_log_lines(err.read_text(), f"{name} stderr", time_key, time_format)
            if not objs:
                fail(f"{name} logged no line on stderr")
            total += len(objs)
            with_queue += sum(1 for o in objs if o.get("queue_id") == qid)
        if with_queue == 0:
            fail(f"no log line carries queue_id {qid}")
        print(f"ok: {total} log lines of the manager, its workers, a worker process and the "
              f"simulator parse with {PARSERS.name}'s streamforge_json ({with_queue} with the "
              "workflow's queue_id)")
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# config

def configmap_data(path):
    """The `data:` keys and values of a ConfigMap file of deploy/ (flat `  KEY: value`)."""
    data, inside = {}, False
    for line in Path(path).read_text().splitlines():
        if re.match(r"^data:\s*$", line):
            inside = True
        elif inside and re.match(r"^\S", line):
            inside = False
        elif inside:
            m = re.match(r"^  ([A-Za-z0-9_]+):\s*(.*)$", line)
            if m:
                data[m.group(1)] = m.group(2).strip().strip('"')
    return data


def env_file(path):
    out = {}
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k] = v
    return out


def mode_config(args):
    """The names the manifests give the binary are names it knows, and the embedded
    overlay's exact configuration starts a manager whose /health answers without the token
    and whose /metrics asks for it."""
    help_up = run([args.bin, "up", "--help"]).stdout
    manager_env = set(re.findall(r"Env:([A-Z0-9_]+)", help_up))
    manager_flags = set(re.findall(r"(--[a-z0-9-]+)", help_up))
    worker_env = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', (REPO / "src/workers/worker_env.h").read_text()))
    problems = []
    maps = {"base": configmap_data(DEPLOY / "base/configmap.yaml")}
    for o in ("embedded", "cluster"):
        maps[o] = configmap_data(DEPLOY / f"overlays/{o}/config.yaml")
    for where, data in maps.items():
        if not data:
            problems.append(f"{where}: no ConfigMap data found")
        for k in data:
            if k not in manager_env:
                problems.append(f"{where} ConfigMap: {k} is no option of `streamforge up` "
                                "(see `streamforge up --help`)")
    dep = (DEPLOY / "base/deployment.yaml").read_text()
    args_line = re.search(r"(?m)^\s*args: (\[.*\])$", dep)
    dep_args = json.loads(args_line.group(1)) if args_line else []
    if not dep_args or dep_args[0] != "up":
        problems.append(f"base/deployment.yaml: args {dep_args} do not run `up`")
    for a in dep_args:
        if a.startswith("--") and a not in manager_flags:
            problems.append(f"base/deployment.yaml: {a} is no flag of `streamforge up`")
    for f in (DEPLOY / "base/deployment.yaml", DEPLOY / "overlays/cluster/deployment.yaml"):
        for k in re.findall(r"(?m)^\s*- name: ([A-Z][A-Z0-9_]+)$", f.read_text()):
            if k not in manager_env:
                problems.append(f"{f.relative_to(REPO)}: env {k} is no option of `streamforge up`")
    # deploy/keda: the connector's variables are the worker's (or the scaler's own).
    keda = env_file(DEPLOY / "keda/connector.env")
    sj = (DEPLOY / "keda/scaledjob.yaml").read_text()
    scaler_env = set(re.findall(r"FromEnv: ([A-Z0-9_]+)", sj))
    for k in keda:
        if k not in worker_env and k not in scaler_env:
            problems.append(f"keda/connector.env: {k} is neither a worker variable "
                            "(src/workers/worker_env.h) nor read by the scaler")
    for k in scaler_env:
        if k not in keda:
            problems.append(f"keda/scaledjob.yaml: the scaler reads {k}, which connector.env lacks")
    for k in re.findall(r"(?m)^\s*- name: ([A-Z][A-Z0-9_]+)$", sj):
        if k not in worker_env:
            problems.append(f"keda/scaledjob.yaml: env {k} is no worker variable")
    try:
        params = json.loads(keda.get("TARGET_PARAMS", "{}"))
    except ValueError as e:
        params = {}
        problems.append(f"keda/connector.env: TARGET_PARAMS is not JSON: {e}")
    if params.get("consumer_group") != keda.get("CONNECTOR_GROUP"):
        problems.append("keda/connector.env: CONNECTOR_GROUP differs from TARGET_PARAMS' "
                        "consumer_group: the scaler would watch a group the connector never uses")
    if f'args: ["worker", "{keda.get("TARGET")}"]' not in sj:
        problems.append(f"keda/scaledjob.yaml does not run `worker {keda.get('TARGET')}`")
    if problems:
        fail("configuration names:\n  " + "\n  ".join(problems))
    print(f"ok: {sum(len(d) for d in maps.values())} ConfigMap keys, the Deployment's args and "
          f"env, and {len(keda)} KEDA connector variables are names the binary reads")

    # The embedded overlay's configuration, as the pod would run it, on loopback.
    tmp = Path(tempfile.mkdtemp(prefix="sf-deploy-config-"))
    procs = Procs()
    try:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp)}
        env.update(maps["base"])
        env.update(maps["embedded"])
        token = secrets.token_hex(16)
        env["SF_API_TOKEN"] = token
        env["SF_DATA_DIR"] = str(tmp)  # the pod's volume
        cmd = [args.bin] + [("127.0.0.1" if a == "0.0.0.0" else "0" if a == "8080" else a)
                            for a in dep_args]
        out = tmp / "manager.out"
        mgr = procs.start(cmd, open(out, "w"), open(tmp / "manager.err", "w"), env)
        url = wait_for_url(out, r"listening on (http://\S+)", mgr, " ".join(cmd))
        health = http_json(f"{url}/health")
        if health.get("status") != "ok" or health.get("launcher") != env["SF_LAUNCHER"]:
            fail(f"/health of the embedded configuration: {health}")
        try:
            urllib.request.urlopen(f"{url}/metrics", timeout=5)
            fail("/metrics answered without the token (the ServiceMonitor sends it)")
        except urllib.error.HTTPError as e:
            if e.code != 401:
                fail(f"/metrics without the token: {e.code}, not 401")
        req = urllib.request.Request(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            if "streamforge_manager_queues_active" not in r.read().decode():
                fail("/metrics with the token lacks streamforge_manager_queues_active")
        print(f"ok: the embedded overlay's configuration starts a manager: /health {health}, "
              "/metrics 401 without the token, 200 with it")
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# kube

class Kube:
    def __init__(self, kube_dir):
        self.dir = Path(kube_dir)
        self.kubeconfig = self.dir / "kubeconfig"
        if not self.kubeconfig.exists():
            fail(f"no {self.kubeconfig}: the `kube` fixture (kube_start, scripts/kube) did not run")
        # kubectl: SF_KUBECTL, else one scripts/kube built into its cache, else PATH's. Its
        # Kustomize must be v5 (labels, replacements): Debian 12's kubernetes-client 1.20 is
        # too old.
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "streamforge"
        built = sorted(cache.glob("kube-v*/bin/kubectl"))
        self.kubectl = (os.environ.get("SF_KUBECTL") or (str(built[-1]) if built else None)
                        or shutil.which("kubectl"))
        if not self.kubectl:
            fail("kubectl is not installed (set SF_KUBECTL to one)")

    def __call__(self, *a, check=True, stdin=None):
        p = subprocess.run([self.kubectl, "--kubeconfig", str(self.kubeconfig), *a],
                           capture_output=True, text=True, input=stdin)
        if check and p.returncode != 0:
            fail(f"kubectl {' '.join(a)} exited {p.returncode}:\n{p.stdout}{p.stderr}")
        return p


def split_docs(yaml_text):
    docs = [d for d in re.split(r"(?m)^---\s*$", yaml_text) if d.strip()]
    return [(re.search(r"(?m)^kind: (\S+)$", d).group(1), d) for d in docs]


def kustomize_in_namespace(k, root, ns, tmp):
    """`kubectl kustomize` of root with every object moved into namespace ns (a wrapper
    kustomization beside it in tmp, so the repository's files are not touched)."""
    w = Path(tempfile.mkdtemp(dir=tmp))
    rel = os.path.relpath(REPO / root, w)
    (w / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"namespace: {ns}\nresources:\n  - {rel}\n")
    return k("kustomize", str(w)).stdout


def mode_kube(args):
    k = Kube(args.kube_dir)
    version = k("version", "-o", "json", check=False)
    if version.returncode != 0:
        fail(f"the API server of {args.kube_dir} does not answer:\n{version.stderr}")
    versions = json.loads(version.stdout)
    server = versions.get("serverVersion", {}).get("gitVersion", "?")
    client = versions.get("clientVersion", {}).get("gitVersion", "?")
    tmp = Path(tempfile.mkdtemp(prefix="sf-deploy-kube-"))
    namespaces = []
    try:
        # 1. The CRDs, for real (server-side: the ScaledJob CRD is too large for the
        # annotation of a client-side apply), then wait until the API serves them.
        k("apply", "--server-side", "--force-conflicts", "--field-manager=streamforge-deploy-test",
          "-k", str(REPO / CRD_ROOT))
        crds = [re.search(r"(?m)^  name: (\S+)$", d).group(1)
                for kind, d in split_docs(k("kustomize", str(REPO / CRD_ROOT)).stdout)
                if kind == "CustomResourceDefinition"]
        k("wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{c}" for c in crds])
        print(f"ok: {len(crds)} CRDs installed on Kubernetes {server} (kubectl {client} at "
              f"{k.kubectl}): {', '.join(crds)}")

        # 2. Every root, server-side dry run, each in a fresh namespace (the overlays share
        # object names; a dry run needs its namespace to exist).
        tag = secrets.token_hex(3)
        for root in APPLY_ROOTS:
            ns = f"sf-deploy-{Path(root).name}-{tag}"
            k("create", "namespace", ns)
            namespaces.append(ns)
            manifest = kustomize_in_namespace(k, root, ns, tmp)
            kinds = [kind for kind, _ in split_docs(manifest)]
            p = k("apply", "--dry-run=server", "--validate=strict", "-f", "-", stdin=manifest,
                  check=False)
            if p.returncode != 0 or "Warning" in p.stderr:
                fail(f"kubectl apply --dry-run=server of {root} failed:\n{p.stdout}{p.stderr}")
            print(f"ok: {root}: {len(kinds)} objects accepted ({', '.join(sorted(set(kinds)))})")

        # 3. The cluster overlay's identities for real: the manager's account may do what
        # the Kubernetes launcher needs in its namespace and nothing else; the workers'
        # account may do nothing.
        ns = namespaces[APPLY_ROOTS.index("deploy/overlays/cluster")]
        manifest = kustomize_in_namespace(k, "deploy/overlays/cluster", ns, tmp)
        rbac = "\n---\n".join(d for kind, d in split_docs(manifest)
                              if kind in ("ServiceAccount", "Role", "RoleBinding"))
        k("apply", "-f", "-", stdin=rbac)
        other = namespaces[0]
        manager = f"system:serviceaccount:{ns}:streamforge-manager"
        worker = f"system:serviceaccount:{ns}:streamforge-worker"
        expect = [(manager, ns, f"{verb} jobs.batch", True)
                  for verb in ("create", "get", "list", "watch", "delete")]
        expect += [(manager, ns, f"{verb} pods", True) for verb in ("get", "list", "watch")]
        expect += [(manager, ns, v, False) for v in (
            "update jobs.batch", "patch jobs.batch", "create pods", "delete pods",
            "get pods --subresource=log", "create pods --subresource=exec", "get secrets", "list secrets", "get configmaps",
            "create deployments.apps", "create cronjobs.batch", "create rolebindings.rbac.authorization.k8s.io")]
        expect += [(manager, other, "create jobs.batch", False),
                   (manager, other, "list pods", False)]
        expect += [(worker, ns, v, False) for v in ("get pods", "list jobs.batch", "get secrets",
                                                    "get configmaps")]
        wrong = []
        for who, where, what, allowed in expect:
            p = k("auth", "can-i", *what.split(), "-n", where, "--as", who, check=False)
            got = p.stdout.strip() == "yes"
            if got != allowed:
                wrong.append(f"  {who.rsplit(':', 1)[1]} {'may' if got else 'may not'} {what} in "
                             f"{where} ({p.stdout.strip()} {p.stderr.strip()})")
        if wrong:
            fail("RBAC is not what the launcher needs, exactly:\n" + "\n".join(wrong))
        print(f"ok: RBAC: {len(expect)} `kubectl auth can-i` answers as designed")
    finally:
        for ns in namespaces:
            k("delete", "namespace", ns, "--wait=false", check=False)
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    sub.add_parser("rules-sync").set_defaults(fn=mode_rules_sync)
    sub.add_parser("sync-rules").set_defaults(fn=mode_sync_rules)
    sub.add_parser("metrics").set_defaults(fn=mode_metrics)
    sub.add_parser("coverage").set_defaults(fn=mode_coverage)
    p = sub.add_parser("packages")
    p.add_argument("--bin", required=True)
    p.add_argument("--plugin", required=True)
    p.set_defaults(fn=mode_packages)
    p = sub.add_parser("config")
    p.add_argument("--bin", required=True)
    p.set_defaults(fn=mode_config)
    p = sub.add_parser("logs")
    p.add_argument("--bin", required=True)
    p.set_defaults(fn=mode_logs)
    p = sub.add_parser("kube")
    p.add_argument("--kube-dir", required=True)
    p.set_defaults(fn=mode_kube)
    args = ap.parse_args()
    try:
        args.fn(args)
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
