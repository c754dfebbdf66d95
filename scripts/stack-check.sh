#!/bin/bash
# npm run stack-check [-- gateways]: `npm start` with MQTT_GATEWAYS (default 4) on free
# ports and a fresh data directory; real clients check its behaviour
# (scripts/stack-check.mjs), then the whole stack is killed with kill -9,
# started again on the same storage, and an offline persistent subscriber
# must get every QoS 1 message acknowledged before the kill.
set -e
trap 'kill -9 -- -$PG 2>/dev/null || true' EXIT
cd "$(dirname "$0")/.."
GATEWAYS=${1:-${GATEWAYS:-4}}
WS=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
TCP=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
DATA=$(mktemp -d /tmp/stack-check.XXXX)
TOKEN=check-token
start() {
  MQTT_GATEWAYS=$GATEWAYS MQTT_ADMIN_TOKEN=$TOKEN MQTT_WS_PORT=$WS MQTT_TCP_PORT=$TCP MQTT_DATA_DIR=$DATA MQTT_LOG_LEVEL=warn setsid npm start > $DATA.$1.log 2>&1 &
  PG=$!
  for i in $(seq 1 120); do
    if curl -s "http://127.0.0.1:$WS/healthz" >/dev/null 2>&1 && (exec 3<>/dev/tcp/127.0.0.1/$TCP) 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "stack did not start"; cat "$DATA.$1.log"; exit 1
}
start 1
echo "stack up: ws $WS tcp $TCP (pgid $PG)"
node scripts/stack-check.mjs behaviour $WS $TCP $TOKEN $GATEWAYS
echo "kill -9 of the whole stack (process group $PG)"
kill -9 -- -$PG
for i in $(seq 1 50); do pgrep -g $PG >/dev/null || break; sleep 0.2; done
pgrep -g $PG -a && { echo "stack still alive"; exit 1; } || echo "nothing left of the stack"
start 2
node scripts/stack-check.mjs after-kill $WS $TCP $TOKEN
kill -TERM -- -$PG; sleep 2; kill -9 -- -$PG 2>/dev/null || true
rm -rf "$DATA" "$DATA".*.log
echo "stack check passed with MQTT_GATEWAYS=$GATEWAYS"
