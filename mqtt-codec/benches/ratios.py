#!/usr/bin/env python3
"""Prints peer/starling time ratios per group from criterion's saved estimates.

Usage: python3 mqtt-codec/benches/ratios.py [target/criterion] [baseline, default "new"]
A ratio above 1 means starling is faster than the peer (mqttbytes) in that group.
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

print("| group | starling | starling_header_only | mqttbytes | mqttbytes/starling | mqttbytes/header_only |")
print("|---|---|---|---|---|---|")
for g in sorted(groups):
    fns = groups[g]
    ours = fns.get("starling", (None,))[0]
    hdr = fns.get("starling_header_only", (None,))[0]
    peer = fns.get("mqttbytes", (None,))[0]
    cell = lambda t: fmt(t) if t is not None else "–"
    ratio = lambda a, b: f"{a / b:.2f}×" if a and b else "–"
    print(f"| {g} | {cell(ours)} | {cell(hdr)} | {cell(peer)} | {ratio(peer, ours)} | {ratio(peer, hdr)} |")
