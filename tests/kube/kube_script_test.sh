#!/usr/bin/env bash
# Tests of scripts/kube and scripts/kube-pod-runner as a user sees them: kubectl and plain
# HTTPS against the `kube` fixture's cluster (tests/CMakeLists.txt: scripts/kube start
# --run-pods <streamforge>), whose Job pods run as real streamforge processes.
#
#   kube_script_test.sh node     SCRIPT DIR   kubectl lists the Ready node without taints; the
#                                             server is v1.37.2; DIR's files; status exits 0;
#                                             a second start prints the same URL
#   kube_script_test.sh complete SCRIPT DIR   a Job running `streamforge --version` gets
#                                             Complete; its pod Succeeded, exit code 0; the
#                                             pod's log file holds the version
#   kube_script_test.sh failed   SCRIPT DIR   a Job whose `streamforge` exits non-zero gets
#                                             Failed; the pod's terminated exitCode is the
#                                             process's
#   kube_script_test.sh delete   SCRIPT DIR   a Job running `streamforge sim` (until stopped):
#                                             its process has exactly the pod's environment
#                                             (env, secretKeyRef, configMapKeyRef, fieldRef);
#                                             deleting the Job (background propagation) ends
#                                             the process (by pid) and removes the pod
#   kube_script_test.sh config   SCRIPT DIR   a pod whose Secret is missing waits in
#                                             CreateContainerConfigError, and runs once the
#                                             Secret exists
#   kube_script_test.sh rbac     SCRIPT DIR   service account sf-launcher in sf-test with a
#                                             Role on jobs.batch and pods: its token (kubectl
#                                             create token) creates a Job there (201), gets 403
#                                             in default
#   kube_script_test.sh lifecycle SCRIPT DIR2 a cluster of its own in DIR2 without a pod
#                                             runner (kwok completes Job pods); stop, status,
#                                             stop again, start again (same URL), stop --purge;
#                                             every recorded pid is gone after stop
#
# Exit 77 (skipped) when kubectl is not installed.
set -euo pipefail

mode=${1:?mode}
KUBE=${2:?path to scripts/kube}
DIR=${3:?cluster dir}

# shellcheck source=tests/support/script_test.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/script_test.sh"  # fail
info() { echo "$*"; }

command -v kubectl >/dev/null || {
  echo "SKIP: kubectl not installed"
  exit 77
}

# A process that ended but is not reaped yet (a zombie) counts as gone.
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

k() { kubectl --kubeconfig "$DIR/kubeconfig" --request-timeout=30s "$@"; }

fixture() {
  [ -s "$DIR/url" ] && [ -s "$DIR/kubeconfig" ] ||
    fail "no $DIR/url or kubeconfig: the kube fixture (kube_start) did not run"
  URL=$(cat "$DIR/url")
  [[ "$URL" =~ ^https://127\.0\.0\.1:[0-9]+$ ]] || fail "url '$URL' is not https://127.0.0.1:PORT"
  [ -s "$DIR/run-pods" ] || fail "the fixture's cluster was started without --run-pods"
  CMD=$(cat "$DIR/run-pods")
}

# A namespace of this test run, removed at exit.
NS=""
new_namespace() {
  NS="sf-t-$1-$$-$RANDOM"
  k create namespace "$NS" >/dev/null || fail "cannot create namespace $NS"
  trap 'k delete namespace "$NS" --wait=false >/dev/null 2>&1 || true' EXIT
}

# A Job of one container (image 'streamforge', as the e2e tests and the launcher make them):
# job NAME COMMAND_JSON [ENV_JSON [EXTRA_POD_SPEC_JSON]]
job() {
  local name=$1 command=$2 env=${3:-[]} extra=${4:-}
  k apply -n "$NS" -f - >/dev/null <<EOF || fail "cannot create job $name"
{"apiVersion": "batch/v1", "kind": "Job",
 "metadata": {"name": "$name"},
 "spec": {"backoffLimit": 0, "ttlSecondsAfterFinished": 600,
   "template": {"metadata": {"labels": {"app": "streamforge"}},
     "spec": {"restartPolicy": "Never", ${extra:+$extra,}
       "containers": [{"name": "worker", "image": "streamforge:test",
                       "command": $command, "env": $env}]}}}}
EOF
}

# The name of the (one) pod of Job $1, waiting for it to exist.
job_pod() {
  local i name
  for ((i = 0; i < 100; i++)); do
    name=$(k get pods -n "$NS" -l "job-name=$1" -o jsonpath='{.items[0].metadata.name}' 2>/dev/null || true)
    [ -n "$name" ] && {
      echo "$name"
      return 0
    }
    sleep 0.2
  done
  fail "no pod of job $1 in $NS after 20s"
}

pod_json() { k get pod -n "$NS" "$1" -o json; }
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# Waits up to $2 seconds for Job $1's condition $3 (Complete, Failed) to be True.
wait_job() {
  k wait -n "$NS" "job/$1" --for="condition=$2" --timeout="${3}s" >/dev/null ||
    {
      k get job -n "$NS" "$1" -o yaml >&2 || true
      k get pods -n "$NS" -o wide >&2 || true
      fail "job $1 did not get condition $2 within ${3}s"
    }
}

secret_and_configmap() {
  k create secret generic -n "$NS" sf-secret --from-literal=token='s3cr3t value' >/dev/null
  k create configmap -n "$NS" sf-config --from-literal=level=debug >/dev/null
}

case $mode in
node)
  fixture
  line=$(k get nodes --no-headers) || fail "kubectl get nodes failed"
  echo "$line"
  [ "$(wc -l <<<"$line")" = 1 ] || fail "expected one node, got: $line"
  [[ "$line" =~ ^sf-node-0[[:space:]]+Ready[[:space:]] ]] || fail "node not Ready: $line"
  [ -z "$(k get node sf-node-0 -o jsonpath='{.spec.taints}')" ] || fail "the node has taints"
  [ "$(k get node sf-node-0 -o jsonpath='{.metadata.annotations.kwok\.x-k8s\.io/node}')" = fake ] ||
    fail "the node is not kwok's"
  v=$(k get --raw /version | jq_py 'd["gitVersion"]')
  [ "$v" = v1.37.2 ] || fail "server version $v"
  # The admin token with plain curl.
  r=$(printf 'header = "Authorization: Bearer %s"\n' "$(cat "$DIR/admin-token")" |
    curl -s -K - --cacert "$DIR/ca.crt" "$URL/readyz")
  [ "$r" = ok ] || fail "/readyz with the admin token: $r"
  [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DIR/ca.crt" "$URL/api/v1/namespaces")" = 403 ] ||
    fail "an anonymous request was not refused with 403"
  [ "$(stat -c %a "$DIR/admin-token")" = 600 ] || fail "admin-token is not mode 600"
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler kwok pod-runner; do
    pid=$(cat "$DIR/pids/$c.pid") || fail "no pid file for $c"
    kill -0 "$pid" 2>/dev/null || fail "$c pid $pid is not running"
  done
  "$KUBE" status --dir "$DIR" >/dev/null || fail "status did not exit 0"
  again=$("$KUBE" start --dir "$DIR" --run-pods "$CMD" 2>/dev/null | tail -n1)
  [ "$again" = "$URL" ] || fail "a second start printed '$again', not $URL"
  info "ok: node sf-node-0 Ready, server v1.37.2 on $URL, second start printed the same URL"
  ;;

complete)
  fixture
  new_namespace complete
  secret_and_configmap
  expected=$($CMD --version 2>&1) || fail "$CMD --version failed by itself"
  job sf-version '["streamforge", "--version"]' \
    '[{"name": "SF_LOG_LEVEL", "value": "info"},
      {"name": "SF_API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "sf-secret", "key": "token"}}}]'
  wait_job sf-version Complete 60
  pod=$(job_pod sf-version)
  st=$(pod_json "$pod" | jq_py 'd["status"]["phase"], d["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"], d["status"]["containerStatuses"][0]["state"]["terminated"]["reason"], sep=" "')
  [ "$st" = "Succeeded 0 Completed" ] || fail "pod $pod: phase, exit code, reason are '$st'"
  logf="$DIR/pods/${NS}_$pod.log"
  [ -f "$logf" ] || fail "no log file $logf"
  [ "$(cat "$logf")" = "$expected" ] || fail "$logf holds '$(head -c 300 "$logf")', not '$expected'"
  info "ok: job sf-version Complete, pod $pod Succeeded, log: $expected"
  ;;

failed)
  fixture
  new_namespace failed
  set +e
  $CMD --no-such-option >/dev/null 2>&1
  code=$?
  set -e
  [ "$code" -ne 0 ] || fail "$CMD --no-such-option exited 0"
  job sf-bad '["streamforge", "--no-such-option"]'
  wait_job sf-bad Failed 60
  pod=$(job_pod sf-bad)
  st=$(pod_json "$pod" | jq_py 'd["status"]["phase"], d["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"], d["status"]["containerStatuses"][0]["state"]["terminated"]["reason"], sep=" "')
  [ "$st" = "Failed $code Error" ] || fail "pod $pod: phase, exit code, reason are '$st', expected 'Failed $code Error'"
  reason=$(k get job -n "$NS" sf-bad -o jsonpath='{.status.conditions[?(@.type=="Failed")].reason}')
  [ "$reason" = BackoffLimitExceeded ] || fail "job's Failed reason is '$reason'"
  [ -s "$DIR/pods/${NS}_$pod.log" ] || fail "no error output in $DIR/pods/${NS}_$pod.log"
  info "ok: job sf-bad Failed ($reason), pod $pod exit code $code"
  ;;

delete)
  fixture
  new_namespace delete
  secret_and_configmap
  job sf-sim '["streamforge", "sim", "--port", "0"]' \
    '[{"name": "SF_PLAIN", "value": "plain $(SF_CM) $$(SF_CM)"},
      {"name": "SF_SECRET", "valueFrom": {"secretKeyRef": {"name": "sf-secret", "key": "token"}}},
      {"name": "SF_CM", "valueFrom": {"configMapKeyRef": {"name": "sf-config", "key": "level"}}},
      {"name": "SF_PLAIN2", "value": "after $(SF_CM)"},
      {"name": "SF_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]' \
    '"terminationGracePeriodSeconds": 10'
  pod=$(job_pod sf-sim)
  k wait -n "$NS" "pod/$pod" --for=jsonpath='{.status.phase}'=Running --timeout=60s >/dev/null ||
    fail "pod $pod did not get Running"
  pidf="$DIR/pods/${NS}_$pod.pid"
  logf="$DIR/pods/${NS}_$pod.log"
  for ((i = 0; i < 100; i++)); do
    [ -s "$pidf" ] && grep -q 'listening on' "$logf" 2>/dev/null && break
    sleep 0.1
  done
  pid=$(cat "$pidf") || fail "no pid file $pidf"
  kill -0 "$pid" 2>/dev/null || fail "pod $pod's pid $pid is not running"
  grep -q 'listening on' "$logf" || fail "$logf has no 'listening on': $(head -c 300 "$logf")"
  cid=$(k get pod -n "$NS" "$pod" -o jsonpath='{.status.containerStatuses[0].containerID}')
  [ "$cid" = "sf-runner://$pid" ] || fail "containerID '$cid', expected sf-runner://$pid"
  # The process's environment: the runner's PATH, HOME, TMPDIR, LANG, HOSTNAME and the pod's.
  env_got=$(tr '\0' '\n' <"/proc/$pid/environ" | grep -Ev '^(PATH|HOME|TMPDIR|LANG)=' | sort)
  env_want=$(printf '%s\n' "HOSTNAME=$pod" "SF_CM=debug" "SF_PLAIN=plain \$(SF_CM) \$(SF_CM)" \
    "SF_PLAIN2=after debug" "SF_POD=$pod" "SF_SECRET=s3cr3t value" | sort)
  [ "$env_got" = "$env_want" ] || fail "the process's environment differs:
$(diff <(echo "$env_want") <(echo "$env_got"))"
  t0=$(date +%s%N)
  k delete job -n "$NS" sf-sim --cascade=background >/dev/null || fail "kubectl delete job failed"
  for ((i = 0; i < 300; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  ! alive "$pid" || fail "pid $pid still runs 30s after the job's deletion"
  ms=$((($(date +%s%N) - t0) / 1000000))
  for ((i = 0; i < 150; i++)); do
    [ -z "$(k get pods -n "$NS" -o name)" ] && break
    sleep 0.2
  done
  [ -z "$(k get pods -n "$NS" -o name)" ] || fail "pod $pod still exists: $(k get pods -n "$NS" -o wide)"
  [ ! -e "$pidf" ] || fail "$pidf left behind"
  info "ok: job sf-sim's process (pid $pid) had the pod's environment and ended ${ms} ms after the job's deletion; pod removed"
  ;;

config)
  fixture
  new_namespace config
  job sf-wait '["streamforge", "--version"]' \
    '[{"name": "SF_API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "sf-late", "key": "token"}}}]'
  pod=$(job_pod sf-wait)
  k wait -n "$NS" "pod/$pod" --timeout=30s \
    --for=jsonpath='{.status.containerStatuses[0].state.waiting.reason}'=CreateContainerConfigError >/dev/null ||
    fail "pod $pod does not wait in CreateContainerConfigError: $(pod_json "$pod")"
  [ "$(k get pod -n "$NS" "$pod" -o jsonpath='{.status.phase}')" = Pending ] || fail "pod $pod is not Pending"
  k create secret generic -n "$NS" sf-late --from-literal=token=t >/dev/null
  wait_job sf-wait Complete 60
  info "ok: pod $pod waited for its Secret, then completed"
  ;;

rbac)
  fixture
  NS=sf-test
  k create namespace "$NS" --dry-run=client -o yaml | k apply -f - >/dev/null
  k apply -n "$NS" -f - >/dev/null <<'EOF' || fail "cannot create the service account and its role"
apiVersion: v1
kind: ServiceAccount
metadata:
  name: sf-launcher
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: sf-launcher
rules:
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create", "get", "list", "watch", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: sf-launcher
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: sf-launcher
subjects:
- kind: ServiceAccount
  name: sf-launcher
  namespace: sf-test
EOF
  token=$(k create token sf-launcher -n "$NS" --duration=10m) || fail "kubectl create token failed"
  name="sf-rbac-$$-$RANDOM"
  body=$(printf '{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"%s"},"spec":{"backoffLimit":0,"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"worker","image":"streamforge:test","command":["streamforge","--version"]}]}}}}' "$name")
  # $1 method, $2 path, $3 body (or empty): prints the HTTP status.
  as_sa() {
    printf 'header = "Authorization: Bearer %s"\n' "$token" |
      curl -s -K - --cacert "$DIR/ca.crt" -o /dev/null -w '%{http_code}' -X "$1" \
        -H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$URL$2"
  }
  code=$(as_sa POST "/apis/batch/v1/namespaces/$NS/jobs" "$body")
  [ "$code" = 201 ] || fail "creating a Job in $NS as sf-launcher: HTTP $code, expected 201"
  code=$(as_sa POST "/apis/batch/v1/namespaces/default/jobs" "$body")
  [ "$code" = 403 ] || fail "creating a Job in default as sf-launcher: HTTP $code, expected 403"
  code=$(as_sa GET "/api/v1/namespaces/$NS/pods")
  [ "$code" = 200 ] || fail "listing pods in $NS as sf-launcher: HTTP $code, expected 200"
  code=$(as_sa GET "/api/v1/namespaces/$NS/secrets")
  [ "$code" = 403 ] || fail "listing secrets in $NS as sf-launcher: HTTP $code, expected 403"
  wait_job "$name" Complete 60
  code=$(as_sa DELETE "/apis/batch/v1/namespaces/$NS/jobs/$name" '{"propagationPolicy":"Background"}')
  [ "$code" = 200 ] || fail "deleting the Job as sf-launcher: HTTP $code, expected 200"
  info "ok: sf-launcher's token: Job in $NS 201 (and Complete), in default 403, secrets 403"
  ;;

lifecycle)
  # DIR is a cluster of this test's own (no pod runner); it needs only the built cache.
  "$KUBE" stop --purge --dir "$DIR" >/dev/null 2>&1 || true
  url=$("$KUBE" start --dir "$DIR" | tail -n1) || fail "start failed"
  [ "$url" = "$(cat "$DIR/url")" ] || fail "start printed '$url', DIR/url is '$(cat "$DIR/url")'"
  [ ! -e "$DIR/run-pods" ] && [ ! -e "$DIR/pids/pod-runner.pid" ] || fail "a pod runner without --run-pods"
  NS=default
  job sf-kwok '["streamforge", "--version"]'
  wait_job sf-kwok Complete 60
  pids=$(cat "$DIR"/pids/*.pid)
  [ "$(wc -w <<<"$pids")" = 5 ] || fail "expected 5 pids, got: $pids"
  "$KUBE" stop --dir "$DIR" >/dev/null || fail "stop failed"
  for p in $pids; do ! alive "$p" || fail "pid $p still runs after stop"; done
  ! "$KUBE" status --dir "$DIR" >/dev/null || fail "status exits 0 after stop"
  "$KUBE" stop --dir "$DIR" >/dev/null || fail "a second stop failed"
  again=$("$KUBE" start --dir "$DIR" | tail -n1) || fail "start after stop failed"
  [ "$again" = "$url" ] || fail "start after stop printed '$again', not $url"
  [ "$(k get job sf-kwok -o jsonpath='{.status.succeeded}')" = 1 ] || fail "job sf-kwok lost across the restart"
  pids=$(cat "$DIR"/pids/*.pid)
  "$KUBE" stop --purge --dir "$DIR" >/dev/null || fail "stop --purge failed"
  for p in $pids; do ! alive "$p" || fail "pid $p still runs after stop --purge"; done
  [ ! -e "$DIR" ] || fail "$DIR still exists after stop --purge"
  info "ok: kwok-only cluster: job Complete; stop, status, stop, start (same $url, data kept), stop --purge"
  ;;

*) fail "unknown mode $mode" ;;
esac
