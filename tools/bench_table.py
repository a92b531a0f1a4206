#!/usr/bin/env python3
"""Prints bench.json (written by `make bench`) as a markdown table: figure, value, unit, yardstick,
its value, ratio. Usage: python3 tools/bench_table.py [bench.json]"""
import json, sys

rows = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "bench.json"))
print("| figure | value | unit | yardstick | yardstick value | ratio |")
print("|---|---|---|---|---|---|")
for r in rows:
    v = r["value"]
    vs = f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    if "yardstick" in r:
        yv = r["yardstick_value"]
        ys = f"{yv:.3g}" if abs(yv) < 100 else f"{yv:.0f}"
        print(f"| {r['name']} | {vs} | {r['unit']} | {r['yardstick']} | {ys} | {r['ratio']:.3g} |")
    else:
        print(f"| {r['name']} | {vs} | {r['unit']} | | | |")
