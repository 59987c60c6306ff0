#!/usr/bin/env bash
# Run compose.yaml (the API beside the benchmark stub, HTTP mode) with podman-compose on this
# machine's podman stand-in, and check it: /health says the benchmark service is `ok`, and
# cmp-002's anomalies use the stub's thresholds. Everything is removed afterwards.
#
# The image (and podman itself, and the local python base image) come from the shared tool,
# ../shared/tools/docker-smoke.sh, exactly as for `make docker-smoke`; podman-compose is
# installed into .venv when it is not on PATH. Its containers get the same machine-specific
# run options as the tool's (runc, clamped ulimits, ports through slirp4netns on 127.0.0.1:
# scripts/compose.podman.yaml). Without the tool: SKIPPED (exit 0), or a failure with CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOL=${DOCKER_SMOKE_TOOL:-../shared/tools/docker-smoke.sh}
export API_PORT=${API_PORT:-18081}
IMAGE=localhost/campaign-analytics:compose   # the image compose.yaml names
BASE="http://127.0.0.1:$API_PORT"
# shellcheck source=scripts/skip-or-fail.sh
. scripts/skip-or-fail.sh
[ -f "$TOOL" ] || skip_or_fail compose-smoke "$TOOL"

echo "compose-smoke: building $IMAGE with $TOOL"
KEEP=0 NAME=campaign-analytics-compose-build IMAGE="$IMAGE" HOST_PORT="${BUILD_CHECK_PORT:-18082}" \
  HEALTH_PATH=/livez CONTEXT=. DOCKERFILE=python/Dockerfile bash "$TOOL"

PC=$(command -v podman-compose || true)
if [ -z "$PC" ]; then
  .venv/bin/python -m pip install --quiet -c constraints.txt podman-compose
  PC=.venv/bin/podman-compose
fi
hn=$(ulimit -Hn); hu=$(ulimit -Hu); pm=$(cat /proc/sys/kernel/pid_max)
[ "$hn" = unlimited ] && hn=1048576
if [ "$hu" = unlimited ] || [ "$hu" -gt "$pm" ]; then hu=$pm; fi
compose() {
  "$PC" --no-ansi -p campaign-analytics-smoke -f compose.yaml -f scripts/compose.podman.yaml --in-pod false \
    --podman-run-args="--runtime runc --ulimit nofile=$hn:$hn --ulimit nproc=$hu:$hu" "$@"
}
cleanup() { compose down -t 2 >/dev/null 2>&1 || true; }
trap cleanup EXIT
fail() { echo "compose-smoke: FAIL: $*" >&2; compose logs >&2 2>&1 | tail -40 || true; exit 1; }

compose up -d --no-build
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
echo "compose-smoke: OK"
