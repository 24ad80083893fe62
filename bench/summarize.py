#!/usr/bin/env python3
"""Prints the comparison table of bench/compare.sh from its JSON lines, with Starling's ratio
to the faster peer (throughput, connect rate) or to Mosquitto (latency, memory). The last
column is the loader's own CPU share (% of one core) in each broker's run: a loader near 100 %
per core it had would be the bottleneck, not the broker.

With several rounds (the same broker and scenario more than once) each figure is the median of
the rounds, the range follows in brackets, losses and failures are the largest of any round,
and a round that failed counts as one error."""
import json, statistics, sys
from collections import defaultdict

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs = defaultdict(lambda: defaultdict(list))
for r in rows:
    # A failed run's row may lack its QoS (it is then reported on a row of its own).
    key = (r["scenario"], str(r.get("qos", "")))
    runs[key][r["broker"]].append(r)

def fmt(v):
    if v is None:
        return "err"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else f"{v:.1f}"
    return str(v)

def metric(rs, name, worst=False):
    """The median of `name` over the rounds (the largest with `worst`), None if a round failed
    or none has it; and the (min, max) range when there are several rounds."""
    if not rs or any("error" in r for r in rs):
        return None, None
    vals = [r.get(name) for r in rs if r.get(name) is not None]
    if not vals:
        return None, None
    if worst:
        return max(vals), None
    return statistics.median(vals), ((min(vals), max(vals)) if len(vals) > 1 else None)

print(f"{'scenario':<10} {'qos':<3} {'metric':<16} {'mosquitto':>12} {'rumqttd':>12} {'starling':>12} {'ratio':>8}  {'lost/failed(m/r/s)':<18} loader cpu%(m/r/s)")
for (scen, qos), brokers in sorted(runs.items()):
    if scen == "idle":
        names = [("connects_per_sec", "max"), ("broker_rss_kib", "mosq")]
    elif scen == "latency":
        names = [("p99_us", "mosq"), ("p50_us", "mosq")]
    else:
        names = [("msgs_per_sec", "max")]
    for name, rule in names:
        got = {b: metric(brokers.get(b), name) for b in ("mosquitto", "rumqttd", "starling")}
        vals = {b: v for b, (v, _) in got.items()}
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
        loss = "/".join(fmt(metric(brokers.get(b), lost, worst=True)[0]) for b in ("mosquitto", "rumqttd", "starling"))
        cpu = "/".join(fmt(metric(brokers.get(b), "loader_cpu_percent")[0]) for b in ("mosquitto", "rumqttd", "starling"))
        print(f"{scen:<10} {str(qos):<3} {name:<16} {fmt(vals['mosquitto']):>12} {fmt(vals['rumqttd']):>12} {fmt(vals['starling']):>12} {ratio:>8}  {loss:<18} {cpu}")
        spread = [f"{b} {fmt(r[0])}..{fmt(r[1])}" for b, (_, r) in got.items() if r]
        if spread:
            print(f"{'':<31}range: " + ", ".join(spread))
