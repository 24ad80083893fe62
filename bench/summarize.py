#!/usr/bin/env python3
"""Prints the comparison table of bench/compare.sh from its JSON lines, with Starling's ratio
to the faster peer (throughput, connect rate) or to Mosquitto (latency, memory). The last
column is the loader's own CPU share (% of one core) in each broker's run: a loader near 100 %
per core it had would be the bottleneck, not the broker."""
import json, sys
from collections import defaultdict

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = defaultdict(dict)
for r in rows:
    # A failed run's row may lack its QoS (it is then reported on a row of its own).
    key = (r["scenario"], str(r.get("qos", "")))
    by[key][r["broker"]] = r

def metric(r, name):
    return None if r is None or "error" in r else r.get(name)

print(f"{'scenario':<10} {'qos':<3} {'metric':<16} {'mosquitto':>12} {'rumqttd':>12} {'starling':>12} {'ratio':>8}  {'lost/failed(m/r/s)':<18} loader cpu%(m/r/s)")
for (scen, qos), brokers in sorted(by.items()):
    if scen == "idle":
        names = [("connects_per_sec", "max"), ("broker_rss_kib", "mosq")]
    elif scen == "latency":
        names = [("p99_us", "mosq"), ("p50_us", "mosq")]
    else:
        names = [("msgs_per_sec", "max")]
    for name, rule in names:
        vals = {b: metric(brokers.get(b), name) for b in ("mosquitto", "rumqttd", "starling")}
        s = vals["starling"]
        ratio = ""
        if s is not None:
            if rule == "max":
                peers = [v for b, v in vals.items() if b != "starling" and v]
                if peers:
                    ratio = f"{s / max(peers):.2f}x"
            elif vals["mosquitto"]:
                ratio = f"{s / vals['mosquitto']:.2f}x"
        # Traffic: messages lost; idle: connections that failed.
        lost = "failed" if scen == "idle" else "lost"
        loss = "/".join(str(metric(brokers.get(b), lost)) for b in ("mosquitto", "rumqttd", "starling"))
        fmt = lambda v: "err" if v is None else str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
        cpu = "/".join(fmt(metric(brokers.get(b), "loader_cpu_percent")) for b in ("mosquitto", "rumqttd", "starling"))
        print(f"{scen:<10} {str(qos):<3} {name:<16} {fmt(vals['mosquitto']):>12} {fmt(vals['rumqttd']):>12} {fmt(vals['starling']):>12} {ratio:>8}  {loss:<18} {cpu}")
