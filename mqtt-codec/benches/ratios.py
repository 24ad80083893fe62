#!/usr/bin/env python3
"""Prints peer/starling time ratios per group from criterion's saved estimates.

Usage: python3 mqtt-codec/benches/ratios.py [target/criterion] [baseline, default "new"]
A ratio above 1 means starling is faster than the peer (mqttbytes) in that group;
mqttbytes/copy_floor is the most any copying encoder could reach (see benches/codec.rs).
"""
import json, os, sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
baseline = sys.argv[2] if len(sys.argv) > 2 else "new"
groups = {}
for dirpath, _, files in os.walk(root):
    if os.path.basename(dirpath) != baseline or "benchmark.json" not in files:
        continue
    with open(os.path.join(dirpath, "benchmark.json")) as f:
        bench = json.load(f)
    with open(os.path.join(dirpath, "estimates.json")) as f:
        est = json.load(f)
    groups.setdefault(bench["group_id"], {})[bench["function_id"]] = (
        est["median"]["point_estimate"],
        bench.get("throughput"),
    )

def fmt(ns):
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.1f} ns"

cols = ["starling", "starling_zero_copy", "copy_floor", "mqttbytes"]
print("| group | " + " | ".join(cols) + " | mqttbytes/starling | mqttbytes/zero_copy | mqttbytes/copy_floor |")
print("|---" * (len(cols) + 4) + "|")
for g in sorted(groups):
    fns = groups[g]
    t = {c: fns.get(c, (None,))[0] for c in cols}
    cell = lambda x: fmt(x) if x is not None else "–"
    ratio = lambda a, b: f"{a / b:.2f}×" if a and b else "–"
    peer = t["mqttbytes"]
    print(f"| {g} | " + " | ".join(cell(t[c]) for c in cols)
          + f" | {ratio(peer, t['starling'])} | {ratio(peer, t['starling_zero_copy'])} | {ratio(peer, t['copy_floor'])} |")
