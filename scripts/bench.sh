#!/usr/bin/env bash
# npm run bench: the local stack (edge on workerd + sidecar) against mosquitto
# and aedes, with the shared broker-agnostic generator and compare.sh
# (../shared/bench, copied to a writable folder first). Results go to
# bench-results/<time>/ (git-ignored): results.jsonl, bench.log, summary.md.
#
# Settings are compare.sh's (SCENARIOS, RUNS, DURATION, CONNS, ...), e.g.
#   SCENARIOS="p2p ws-p2p" RUNS=1 DURATION=5 npm run bench
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
src=${BENCH_SRC:-$root/../shared/bench}
tool=$root/bench-results/tool
export WRANGLER_SEND_METRICS=false

[ -f "$src/compare.sh" ] || { echo "bench: no compare.sh in $src (set BENCH_SRC)" >&2; exit 1; }
rm -rf "$tool"
mkdir -p "$tool"
cp -r "$src/." "$tool"
chmod -R u+w "$tool"
(cd "$tool" && npm ci --no-audit --no-fund >/dev/null)

# One bundle for every run; each run starts the stack fresh with empty storage.
bundle=$(node --import tsx -e "import('./scripts/local-edge.ts').then(async (m) => console.log(await m.buildEdge()))")
free_port() { node --import tsx -e "import('./scripts/free-port.ts').then(async (m) => console.log(await m.freePort()))"; }
ws_port=$(free_port)
tcp_port=$(free_port)

export BUT_NAME=${BUT_NAME:-edge-mqtt}
export BUT_PORT=$tcp_port
export BUT_WS_URL=ws://127.0.0.1:$ws_port/mqtt
export BUT_CMD="cd '$root' && EDGE_BUNDLE='$bundle' MQTT_WS_PORT=$ws_port MQTT_TCP_PORT=$tcp_port MQTT_DATA_DIR=\$(mktemp -d) MQTT_LOG_LEVEL=warn exec node --import tsx scripts/start.ts"
export OUT=${OUT:-$root/bench-results/$(date +%Y%m%d-%H%M%S)}
"$tool/compare.sh"
echo "bench: results in $OUT (summary.md)"
