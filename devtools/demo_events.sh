#!/usr/bin/env bash
# End-to-end check over the Bus Events API: publish one plan request and wait
# for the worker's response on a broadcast stream.
#
# Needs BUS_EVENTS_API_BASE_URL and BUS_EVENTS_TOKEN in the environment, with
# the Events API and a worker already running (see devtools/events_stack.py).
# Prints the matching response line and exits 0, or exits 1 when no response
# arrives within DEMO_WAIT_SECONDS (default 15).
set -euo pipefail

: "${BUS_EVENTS_API_BASE_URL:?set BUS_EVENTS_API_BASE_URL to the Events API URL}"
: "${BUS_EVENTS_TOKEN:?set BUS_EVENTS_TOKEN to a token with the events scopes}"
wait_seconds="${DEMO_WAIT_SECONDS:-15}"

workdir="$(mktemp -d "${TMPDIR:-/tmp}/bus-demo-events.XXXXXX")"
listener_pid=""
cleanup() {
    if [[ -n "$listener_pid" ]]; then
        kill "$listener_pid" 2>/dev/null || true
        wait "$listener_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT
cd "$workdir"

cat > event.json <<'EOF'
{"name": "bus.database.plan.request", "correlation_id": "deploy-001-db-plan", "delivery": "broadcast", "payload": {"deployment_id": "example-dev", "provider": "postgres", "dry_run": true, "databases": ["bus_events"]}}
EOF

curl -fsS -N --max-time 15 "$BUS_EVENTS_API_BASE_URL/api/v1/events/stream?name=bus.database.plan.response&delivery=broadcast" -H "Authorization: Bearer $BUS_EVENTS_TOKEN" > response.ndjson &
listener_pid=$!

# A broadcast stream only carries events published after it opened. The local
# stand-in lists open streams, so wait for ours there; elsewhere wait a second.
for _ in $(seq 50); do
    if ! streams="$(curl -fsS "$BUS_EVENTS_API_BASE_URL/api/v1/_local/streams" -H "Authorization: Bearer $BUS_EVENTS_TOKEN" 2>/dev/null)"; then
        sleep 1
        break
    fi
    if [[ "$streams" == *'"bus.database.plan.response"'* ]]; then
        break
    fi
    sleep 0.1
done

curl -fsS -X POST "$BUS_EVENTS_API_BASE_URL/api/v1/events" -H "Authorization: Bearer $BUS_EVENTS_TOKEN" -H "Content-Type: application/json" --data @event.json
echo

deadline=$((SECONDS + wait_seconds))
while ((SECONDS < deadline)); do
    if grep '"correlation_id":"deploy-001-db-plan"' response.ndjson; then
        exit 0
    fi
    sleep 0.2
done

echo "error: no bus.database.plan.response for deploy-001-db-plan within ${wait_seconds} s" >&2
exit 1
