#!/usr/bin/env bash
# The contract's typical local commands (README "Manual commands"), run line by line as a new
# user would, in a fresh copy of this checkout with a fresh venv (pip's cache is reused).
# Each line is the README's; only the port differs (a free one instead of 8080, so it never
# clashes with `make run`) and the server runs in the background so the tests can follow.
# Called by .ci/run; exits non-zero when any line fails or the server does not answer.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
# the tracked files as they are now (committed or not), nothing generated
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$work"
cd "$work"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
echo "contract commands: fresh venv in $work, server on port $port"

python -m venv .venv
# shellcheck disable=SC1091
source .venv/bin/activate
pip install -r python/requirements.txt
export DATA_DIR="$(pwd)/data/visible"
export BENCHMARK_FIXTURES_FILE="$(pwd)/data/visible/benchmarks.json"
PYTHONPATH=python uvicorn app:app --host 127.0.0.1 --port "$port" &
server_pid=$!
expected='{"campaign_id":"cmp-001","campaign_name":"Spring Launch","totals":{"total_impressions":5000,"total_clicks":212,"total_conversions":21,"total_spend":890.0,"total_revenue":3230.0,"ctr":0.0424,"cvr":0.0991,"roas":3.6292}}'
answer=""
for _ in $(seq 150); do
    answer="$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())' \
        "http://127.0.0.1:$port/campaigns/cmp-001/performance" 2>/dev/null)" && break
    kill -0 "$server_pid" 2>/dev/null || { echo "contract commands: the server exited" >&2; exit 1; }
    sleep 0.2
done
if [ "$answer" != "$expected" ]; then
    echo "contract commands: /campaigns/cmp-001/performance answered: ${answer:-nothing}" >&2
    exit 1
fi
echo "contract commands: the server answers the README's cmp-001 example"
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
PYTHONPATH=python pytest tests/test_api.py -q
