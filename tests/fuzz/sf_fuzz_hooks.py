"""Schemathesis hooks for tests/fuzz/api_fuzz (loaded through SCHEMATHESIS_HOOKS).

- `refusal_is_stated`: a request generated within the schema (positive mode) that the
  server refuses with 422 must be refused for one of the reasons the document's description
  lists as beyond any schema (time range order, a repeated telemetry_id, a first id
  setting after the last, the settings checks a target alternative lists under
  x-checks-beyond-schema). Any other 422
  means the document accepts something the server does not: issue 10, point 1.
- Every call is logged (method, path, status) to $SF_FUZZ_LOG for the run's summary.
- Queues the fuzzer creates are stopped once more than $SF_FUZZ_LIVE_QUEUES of them would
  run at once, oldest first, so generated week-long dummies cannot pile up on the machine.
"""
import collections
import json
import os
import threading

import requests
import schemathesis

_lock = threading.Lock()
_live = collections.deque()
_START_PATHS = ("/queues/start", "/queues/start-test-flow")
# The checks the server makes that no JSON Schema can state (see openapi.json's description):
# these, and those its target alternatives list under x-checks-beyond-schema.
_STATED_REASONS = ("must be after its start", "is used by another target", "comes after")
_document_reasons = None


def _auth():
    token = os.environ.get("SF_FUZZ_TOKEN")
    return {"Authorization": "Bearer " + token} if token else {}


def _collect_beyond_schema(node, out):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "x-checks-beyond-schema" and isinstance(value, list):
                out.update(v for v in value if isinstance(v, str) and v)
            else:
                _collect_beyond_schema(value, out)
    elif isinstance(node, list):
        for value in node:
            _collect_beyond_schema(value, out)


def _stated_reasons():
    global _document_reasons
    with _lock:
        if _document_reasons is None:
            found = set()
            response = requests.get(
                os.environ["SF_FUZZ_URL"] + "/openapi.json", headers=_auth(), timeout=10
            )
            response.raise_for_status()
            _collect_beyond_schema(response.json(), found)
            _document_reasons = tuple(sorted(found))
        return _STATED_REASONS + _document_reasons


def _is_positive(case):
    meta = getattr(case, "meta", None)
    if meta is None:
        return True
    return not meta.generation.mode.is_negative


@schemathesis.check
def refusal_is_stated(ctx, response, case):
    if case.method.upper() != "POST" or case.path not in _START_PATHS:
        return None
    if response.status_code != 422 or not _is_positive(case):
        return None
    try:
        error = response.json().get("error", "")
    except ValueError:
        error = response.text
    if not any(reason in error for reason in _stated_reasons()):
        raise AssertionError(
            "422 for a request the schema allows, for a reason the schema does not state: "
            + error
        )
    return None


def _stop(queue_id):
    url = os.environ["SF_FUZZ_URL"] + "/queues/stop"
    try:
        requests.post(url, json={"queue_id": queue_id}, headers=_auth(), timeout=10)
    except requests.RequestException:
        pass  # the run's own checks report a manager that stopped answering


@schemathesis.hook
def after_call(context, case, response):
    with _lock:
        with open(os.environ["SF_FUZZ_LOG"], "a", encoding="utf-8") as log:
            log.write("%s %s %d\n" % (case.method.upper(), case.path, response.status_code))
    if case.method.upper() != "POST" or case.path not in _START_PATHS:
        return
    if response.status_code != 201:
        return
    try:
        queue_id = response.json()["queue_id"]
    except (ValueError, KeyError, TypeError):
        return
    to_stop = []
    with _lock:
        _live.append(queue_id)
        while len(_live) > int(os.environ.get("SF_FUZZ_LIVE_QUEUES", "8")):
            to_stop.append(_live.popleft())
    for q in to_stop:
        _stop(q)
