#!/usr/bin/env bash
# The README's "Running several instances" example, as a test: two yhconv
# instances on one PostgreSQL database; Bob sends through instance A, Alice
# lists through instance B and sees it, and her push socket on B receives it.
# Usage: scripts/example-two-instances.sh [POSTGRES_URL]
# (default: $YHCONV_TEST_POSTGRES, as set by scripts/with-postgres.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

db="${1:-${YHCONV_TEST_POSTGRES:?give a postgres:// URL}}"
cargo build -q -p yhconv
yhconv="${CARGO_TARGET_DIR:-target}/debug/yhconv"
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

wait_healthy() {
    for _ in $(seq 1 100); do
        python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=1)' "$1" \
            >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "instance $1 did not become healthy; its log:" >&2
    cat "$work"/*.log >&2
    return 1
}

# --- the example, as in the README ---
$yhconv serve --db "$db" --listen 127.0.0.1:18081 --demo >"$work/a.out" 2>"$work/a.log" &
pids+=($!)
wait_healthy http://127.0.0.1:18081
$yhconv serve --db "$db" --listen 127.0.0.1:18082 2>"$work/b.log" &
pids+=($!)
wait_healthy http://127.0.0.1:18082

A=http://127.0.0.1:18081
B=http://127.0.0.1:18082
BOB=$($yhconv client --base-url $A --email bob@example.com --password bob-demo login)
ALICE=$($yhconv client --base-url $B --email alice@example.com --password alice-demo login)

$yhconv client --base-url $B --token "$ALICE" --json watch >"$work/watch.jsonl" &
pids+=($!)
sleep 1
$yhconv client --base-url $A --token "$BOB" send 10001 --type user "hello from instance A"
$yhconv client --base-url $B --token "$ALICE" list
# --- end of the example ---

$yhconv client --base-url $B --token "$ALICE" --json list | grep -q "hello from instance A" \
    || { echo "instance B does not list the message" >&2; exit 1; }
for _ in $(seq 1 50); do
    grep -q "hello from instance A" "$work/watch.jsonl" && break
    sleep 0.1
done
grep -q "hello from instance A" "$work/watch.jsonl" \
    || { echo "instance B did not push the message" >&2; cat "$work/watch.jsonl" "$work/b.log" >&2; exit 1; }
echo "several-instances example: ok"
