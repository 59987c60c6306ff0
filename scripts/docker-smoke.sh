#!/usr/bin/env bash
# Build python/Dockerfile with the shared podman smoke tool, run it on 127.0.0.1, and check it:
# /health answers, GET /campaigns/cmp-001/performance is SPEC §4's example, the process is not
# root. The container is removed afterwards, pass or fail.
# Skips (exit 0, saying so) when the shared tool is not there, e.g. outside this workplace.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOL=${DOCKER_SMOKE_TOOL:-../shared/tools/docker-smoke.sh}
NAME=${NAME:-campaign-analytics-smoke}
HOST_PORT=${HOST_PORT:-18080}
IMAGE=${IMAGE:-localhost/campaign-analytics:smoke}
BASE="http://127.0.0.1:$HOST_PORT"

if [ ! -f "$TOOL" ]; then
  echo "docker-smoke: $TOOL not found; image not built (nothing else to check here)"
  exit 0
fi

cleanup() { podman rm -f -t 2 --ignore "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT

started=$(date +%s)
KEEP=1 NAME="$NAME" IMAGE="$IMAGE" HOST_PORT="$HOST_PORT" HEALTH_PATH=/health \
  CONTEXT=. DOCKERFILE=python/Dockerfile bash "$TOOL"
echo "docker-smoke: built and started in $(( $(date +%s) - started )) s"

fail() { echo "docker-smoke: FAIL: $*" >&2; podman logs --tail 30 "$NAME" >&2 || true; exit 1; }

health=$(curl -fsS --max-time 5 "$BASE/health") || fail "/health did not answer 200"
echo "docker-smoke: /health -> $health"
case "$health" in *'"database":"ok"'*'"benchmark_service":"fixture"'*) ;; *) fail "unexpected /health: $health" ;; esac

expected='{"campaign_id":"cmp-001","campaign_name":"Spring Launch","totals":{"total_impressions":5000,"total_clicks":212,"total_conversions":21,"total_spend":890.0,"total_revenue":3230.0,"ctr":0.0424,"cvr":0.0991,"roas":3.6292}}'
actual=$(curl -fsS --max-time 5 "$BASE/campaigns/cmp-001/performance") || fail "/campaigns/cmp-001/performance did not answer 200"
[ "$actual" = "$expected" ] || fail "cmp-001 performance is $actual"
echo "docker-smoke: /campaigns/cmp-001/performance matches SPEC §4"

uid=$(podman exec "$NAME" id -u)
[ "$uid" != 0 ] || fail "the server runs as root"
echo "docker-smoke: serves as uid $uid ($(podman exec "$NAME" id -un))"
echo "docker-smoke: image size $(podman image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
echo "docker-smoke: OK"
