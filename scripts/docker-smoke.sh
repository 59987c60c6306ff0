#!/usr/bin/env bash
# Build python/Dockerfile, run the image on 127.0.0.1, and check it: /health answers, GET
# /campaigns/cmp-001/performance is docs/contract.md §4's example, the response has an ETag,
# /metrics and the access log work, and the process is not root. The container is removed
# afterwards, pass or fail.
#
# The container engine (scripts/container-engine.sh): Docker when a Docker daemon answers,
# else podman. The image is built from the Dockerfile's own base image, pulled from its
# registry; when neither engine is there or the base cannot be pulled, the engine's error is
# printed and the script fails.
#
# DOCKER_SMOKE_TOOL (optional): a command that builds and starts the image instead, for a
# machine whose engine needs help (a local stand-in for the base image, runtime options). It is
# run with CONTEXT, DOCKERFILE, IMAGE, NAME, HOST_PORT, HEALTH_PATH and KEEP=1 in its
# environment and must leave container NAME running, published on 127.0.0.1:HOST_PORT, with
# podman. The checks below are the same either way.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=${NAME:-campaign-analytics-smoke}
HOST_PORT=${HOST_PORT:-18080}
IMAGE=${IMAGE:-localhost/campaign-analytics:smoke}
BASE="http://127.0.0.1:$HOST_PORT"
say() { echo "docker-smoke: $*"; }

# shellcheck source=scripts/container-engine.sh
. scripts/container-engine.sh
choose_engine docker-smoke

cleanup() { "$ENGINE" rm -f "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT
fail() { echo "docker-smoke: FAIL: $*" >&2; "$ENGINE" logs --tail 30 "$NAME" >&2 || true; exit 1; }

started=$(date +%s)
if [ -n "${DOCKER_SMOKE_TOOL:-}" ]; then
  say "building and starting $IMAGE with $DOCKER_SMOKE_TOOL"
  KEEP=1 NAME="$NAME" IMAGE="$IMAGE" HOST_PORT="$HOST_PORT" HEALTH_PATH=/health \
    CONTEXT=. DOCKERFILE=python/Dockerfile bash "$DOCKER_SMOKE_TOOL"
else
  say "building $IMAGE with $ENGINE"
  format=()
  [ "$ENGINE" = podman ] && format=(--format docker) # podman's default (OCI) drops the HEALTHCHECK
  "$ENGINE" build "${format[@]}" -f python/Dockerfile -t "$IMAGE" . || fail "$ENGINE build failed (see above)"
  cleanup
  "$ENGINE" run -d --name "$NAME" -p "127.0.0.1:$HOST_PORT:8080" "$IMAGE" >/dev/null \
    || fail "$ENGINE run failed (see above)"
  deadline=$((SECONDS + 60))
  until curl -fsS --max-time 2 "$BASE/health" >/dev/null 2>&1; do
    [ "$("$ENGINE" inspect -f '{{.State.Running}}' "$NAME")" = true ] || fail "the container exited"
    [ $SECONDS -lt $deadline ] || fail "$BASE/health did not answer within 60 s"
    sleep 0.5
  done
fi
say "built and started in $(($(date +%s) - started)) s"

health=$(curl -fsS --max-time 5 "$BASE/health") || fail "/health did not answer 200"
say "/health -> $health"
case "$health" in *'"database":"ok"'*'"benchmark_service":"fixture"'*) ;; *) fail "unexpected /health: $health" ;; esac

expected='{"campaign_id":"cmp-001","campaign_name":"Spring Launch","totals":{"total_impressions":5000,"total_clicks":212,"total_conversions":21,"total_spend":890.0,"total_revenue":3230.0,"ctr":0.0424,"cvr":0.0991,"roas":3.6292}}'
actual=$(curl -fsS --max-time 5 "$BASE/campaigns/cmp-001/performance") || fail "/campaigns/cmp-001/performance did not answer 200"
[ "$actual" = "$expected" ] || fail "cmp-001 performance is $actual"
say "/campaigns/cmp-001/performance matches docs/contract.md §4"

headers=$(curl -fsS --max-time 5 -o /dev/null -D - "$BASE/campaigns/cmp-001/performance") || fail "no headers"
case "$headers" in *[Ee][Tt]ag:*) ;; *) fail "no ETag: $headers" ;; esac
# Each output is read whole before grep looks at it: `producer | grep -q` under pipefail fails
# now and then, when grep stops at its match and the producer dies of SIGPIPE (141).
metrics=$(curl -fsS --max-time 5 "$BASE/metrics") || fail "/metrics did not answer"
grep -q '^campaign_analytics_build_info{' <<<"$metrics" || fail "/metrics has no build_info"
logs=$("$ENGINE" logs "$NAME" 2>&1) || fail "$ENGINE logs failed"
grep -q 'campaign_analytics.access: GET /campaigns/cmp-001/performance 200' <<<"$logs" \
  || fail "no access log line in the container's log"
say "ETag, /metrics and the access log are there"

uid=$("$ENGINE" exec "$NAME" id -u)
[ "$uid" != 0 ] || fail "the server runs as root"
say "serves as uid $uid ($("$ENGINE" exec "$NAME" id -un))"
say "image size $("$ENGINE" image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
say "OK ($ENGINE)"
