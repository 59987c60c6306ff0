#!/usr/bin/env bash
# Run compose.yaml (the API beside the benchmark stub, HTTP mode) and check it: /health says
# the benchmark service is `ok`, and cmp-002's anomalies use the stub's thresholds. Everything
# is removed afterwards.
#
# The engine is chosen as for `make docker-smoke` (scripts/container-engine.sh): with Docker,
# `docker compose up --build`; with podman, podman-compose (installed into .venv when it is not
# on PATH), which builds the image from the Dockerfile's own base image. Without an engine, or
# when the build fails, the engine's error is printed and the script fails.
#
# DOCKER_SMOKE_TOOL (optional, see scripts/docker-smoke.sh): the image is built by that tool
# instead, and the containers get the run options such a machine needs with podman (runc,
# ulimits clamped to the hard limits, ports through slirp4netns on 127.0.0.1:
# scripts/compose.podman.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."

export API_PORT=${API_PORT:-18081}
IMAGE=localhost/campaign-analytics:compose # the image compose.yaml names
BASE="http://127.0.0.1:$API_PORT"
PROJECT=campaign-analytics-smoke

# shellcheck source=scripts/container-engine.sh
. scripts/container-engine.sh
choose_engine compose-smoke

up_options=(--build)
if [ "$ENGINE" = docker ]; then
  compose() { docker compose --ansi never -p "$PROJECT" -f compose.yaml "$@"; }
else
  PC=$(command -v podman-compose || true)
  if [ -z "$PC" ]; then
    .venv/bin/python -m pip install --quiet -c constraints.txt podman-compose
    PC=.venv/bin/podman-compose
  fi
  if [ -n "${DOCKER_SMOKE_TOOL:-}" ]; then
    echo "compose-smoke: building $IMAGE with $DOCKER_SMOKE_TOOL"
    KEEP=0 NAME=campaign-analytics-compose-build IMAGE="$IMAGE" HOST_PORT="${BUILD_CHECK_PORT:-18082}" \
      HEALTH_PATH=/livez CONTEXT=. DOCKERFILE=python/Dockerfile bash "$DOCKER_SMOKE_TOOL"
    up_options=(--no-build)
    hn=$(ulimit -Hn) hu=$(ulimit -Hu) pm=$(cat /proc/sys/kernel/pid_max)
    [ "$hn" = unlimited ] && hn=1048576
    if [ "$hu" = unlimited ] || [ "$hu" -gt "$pm" ]; then hu=$pm; fi
    compose() {
      "$PC" --no-ansi -p "$PROJECT" -f compose.yaml -f scripts/compose.podman.yaml --in-pod false \
        --podman-run-args="--runtime runc --ulimit nofile=$hn:$hn --ulimit nproc=$hu:$hu" "$@"
    }
  else
    compose() { "$PC" --no-ansi -p "$PROJECT" -f compose.yaml --in-pod false "$@"; }
  fi
fi
cleanup() { compose down -t 2 >/dev/null 2>&1 || true; }
trap cleanup EXIT
fail() { echo "compose-smoke: FAIL: $*" >&2; compose logs 2>&1 | tail -40 >&2 || true; exit 1; }

compose up -d "${up_options[@]}" || fail "compose up failed (see above)"
deadline=$((SECONDS + 60))
until health=$(curl -fsS --max-time 2 "$BASE/health" 2>/dev/null); do
  [ $SECONDS -lt $deadline ] || fail "$BASE/health did not answer within 60 s"
  sleep 0.5
done
echo "compose-smoke: /health -> $health"
case "$health" in *'"status":"ok"'*'"benchmark_service":"ok"'*) ;; *) fail "unexpected /health: $health" ;; esac
anomalies=$(curl -fsS --max-time 5 "$BASE/campaigns/cmp-002/anomalies") || fail "anomalies did not answer 200"
case "$anomalies" in *'"thresholds":{"min_ctr":0.02,"min_roas":1.5}'*) ;; *) fail "not the stub's thresholds: $anomalies" ;; esac
echo "compose-smoke: /campaigns/cmp-002/anomalies uses the stub's thresholds: $anomalies"
echo "compose-smoke: OK ($ENGINE)"
