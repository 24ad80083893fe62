#!/usr/bin/env bash
# Side-by-side broker comparison on loopback: Mosquitto 2 (Debian package), rumqttd (the Rust
# peer, `cargo install rumqttd` into bench/.tools) and Starling, all driven by the same load
# generator (`starling bench scenario`, library in bench/loadgen) in one run. Prints one JSON line per (broker, scenario) and a
# summary table. Every load is bounded in count and time.
#
#   bench/compare.sh            # full run (about five minutes)
#   QUICK=1 bench/compare.sh    # smaller counts, one round
#   REPS=5 bench/compare.sh     # rounds (default 3); the table shows each metric's median
#
# Scenarios: fan-in (8 publishers -> 1 subscriber), fan-out (1 -> 50), 50 point-to-point
# pairs, QoS 0 and 1, 64-byte payloads; latency at a fixed 5k msg/s; 10k idle connections
# (connect rate and broker RSS). Queues are unlimited on every broker so QoS 1 loss measures
# the broker, not a queue limit (Mosquitto: max_queued_messages 0; rumqttd: large segments;
# Starling: large outboxes/queues). The loader keeps up to 1000 QoS 1 publishes unacknowledged
# per client (MQTT 3.1.1 announces no limit), so rumqttd's max_inflight_count is raised to
# match: at its default it disconnects such a publisher.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${OUT:-$root/bench/results}
mkdir -p "$out" "$root/bench/.tools"
scale=${QUICK:+10}
scale=${scale:-1}

echo "== building" >&2
cargo build --release -p starling-cli >&2
command -v mosquitto >/dev/null || scripts/install-test-deps.sh >&2
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
RUMQTTD=$root/bench/.tools/bin/rumqttd
if [ ! -x "$RUMQTTD" ]; then
  echo "== cargo install rumqttd (once)" >&2
  cargo install rumqttd --root "$root/bench/.tools" >&2
fi
STARLING=$root/target/release/starling

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

tmp=$(mktemp -d)
pid=""
stop_broker() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi; }
trap 'stop_broker; rm -rf "$tmp"' EXIT

start_broker() { # name port
  local name=$1 port=$2
  case $name in
    mosquitto)
      printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_connections -1\n' "$port" > "$tmp/mosquitto.conf"
      "$MOSQUITTO" -c "$tmp/mosquitto.conf" >"$tmp/$name.log" 2>&1 & pid=$! ;;
    rumqttd)
      cat > "$tmp/rumqttd.toml" <<TOML
id = 0
[router]
id = 0
max_connections = 20000
max_outgoing_packet_count = 200
max_segment_size = 104857600
max_segment_count = 10
[v4.1]
name = "v4-1"
listen = "127.0.0.1:$port"
next_connection_delay_ms = 0
    [v4.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 20480
    max_inflight_count = 1000
    dynamic_filters = true
TOML
      "$RUMQTTD" -c "$tmp/rumqttd.toml" >"$tmp/$name.log" 2>&1 & pid=$! ;;
    starling)
      cat > "$tmp/starling.toml" <<TOML
listeners = [{ addr = "127.0.0.1:$port", kind = "tcp" }]
allow_anonymous = true
max_connections = 19000
max_queued_messages = 1000000
max_outbox = 1000000
max_outbox_qos0 = 1000000
TOML
      "$STARLING" broker --config "$tmp/starling.toml" >"$tmp/$name.log" 2>&1 & pid=$! ;;
  esac
  for _ in $(seq 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$name did not start; log:" >&2; cat "$tmp/$name.log" >&2; return 1
}

run() { # broker scenario args...
  local broker=$1; shift
  local port; port=$(free_port)
  start_broker "$broker" "$port"
  local line
  if line=$(timeout 120 "$STARLING" bench scenario "$@" --port "$port" --duration 60 --json --quiet $( [ "$1" = idle ] && echo --broker-pid "$pid" ) 2>"$tmp/lg.err"); then
    echo "{\"broker\":\"$broker\",${line#\{}" | tee -a "$out/results.jsonl"
  else
    local qos; qos=$(printf '%s\n' "$@" | sed -n '/^--qos$/{n;p;q}')
    echo "{\"broker\":\"$broker\",\"scenario\":\"$1\",\"qos\":${qos:-0},\"error\":$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read().strip()))' "$tmp/lg.err")}" | tee -a "$out/results.jsonl"
  fi
  stop_broker
}

: > "$out/results.jsonl"
ulimit -n 20000 2>/dev/null || true
# Counts large enough that a run lasts long enough to mean something on the fastest broker
# (sub-second runs swing by 1.5x from one run to the next), repeated in rounds with brokers
# interleaved so that a noisy moment does not land on one broker only.
N=$((1000000 / scale)); F=$((40000 / scale)); P=$((400000 / scale))
reps=${REPS:-$([ "$scale" = 1 ] && echo 3 || echo 1)}
for rep in $(seq 1 "$reps"); do
  for broker in mosquitto rumqttd starling; do
    for qos in 0 1; do
      run $broker fanin  --pubs 8  --count $N --qos $qos
      run $broker fanout --subs 50 --count $F --qos $qos
      run $broker pairs  --pubs 50 --count $P --qos $qos
    done
    run $broker latency --msg-rate 5000 --count $((50000 / scale)) --qos 1
    run $broker idle --conns $((10000 / scale))
  done
done
python3 bench/summarize.py "$out/results.jsonl"
