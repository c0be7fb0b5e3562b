"""Schemathesis hooks for tests/fuzz/api_fuzz (loaded through SCHEMATHESIS_HOOKS).

- `refusal_is_stated`: a request generated within the schema (positive mode) that the
  server refuses with 422 must be refused for one of the reasons the document's description
  lists as beyond any schema (time range order, a repeated telemetry_id, a first id
  setting after the last). Any other 422
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
# The checks the server makes that no JSON Schema can state (see openapi.json's description).
_STATED_REASONS = ("must be after its start", "is used by another target", "comes after")


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
    if not any(reason in error for reason in _STATED_REASONS):
        raise AssertionError(
            "422 for a request the schema allows, for a reason the schema does not state: "
            + error
        )
    return None


def _stop(queue_id):
    url = os.environ["SF_FUZZ_URL"] + "/queues/stop"
    headers = {}
    if os.environ.get("SF_FUZZ_TOKEN"):
        headers["Authorization"] = "Bearer " + os.environ["SF_FUZZ_TOKEN"]
    try:
        requests.post(url, json={"queue_id": queue_id}, headers=headers, timeout=10)
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
