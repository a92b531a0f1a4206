#!/usr/bin/env python3
"""Prints the evaluation tables (markdown) from tools/eval/run.sh's score files.
Usage: python3 tools/eval/table.py OUT_DIR. Held-out clips are p31..p40 (tools/eval/make_jobs.py).
Tables: the mean of each metric, each attribute right (all clips and held-out), motion by kind."""
import json, sys

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/vidgen-eval"
KEYS = ["temporal_flickering", "lighting_flicker", "background_stability", "warping_error", "identity",
        "motion_smoothness", "pop_events"]
ATTR = ["colour", "shape", "background", "motion", "size", "lighting"]


def load(s):
    with open(f"{out}/{s}.json") as f:
        return json.load(f)


def motion_kind(expected):
    return expected if expected in ("bouncing", "standing still") else "linear"


def right(clips, what, names=None, kind=None):
    """'ok/n' of the checks of `what` (of the clips in `names`; of motions of `kind`)."""
    ok = n = 0
    for c in clips:
        if names and c["clip"] not in names:
            continue
        for ch in c.get("judge", {}).get("checks", []):
            if ch["what"] == what and (kind is None or motion_kind(ch["expected"]) == kind):
                n += 1
                ok += ch["ok"]
    return f"{ok}/{n}" if n else "-"


held = {f"p{i}" for i in range(31, 41)}
print("| set | " + " | ".join(k.replace("_", " ") for k in KEYS) + " | adherence |")
print("|---" * (len(KEYS) + 2) + "|")
sets = ["w2_f16", "w0_f16", "w2_f30", "w0_f30", "w2_f60", "w2_f120", "w0_f120",
        "w2_f120_first30", "w2_f120_last30", "w0_f120_first30", "w0_f120_last30"]
for s in sets:
    try:
        d = load(s)
    except OSError:
        continue
    m = d["mean"]
    print(f"| {s} | " + " | ".join(f"{m[k]:.3f}" for k in KEYS) + f" | {m.get('adherence', float('nan')):.3f} |")
print()
print("| set | " + " | ".join(ATTR) + " | held-out clips: colour / shape / background / motion |")
print("|---" * (len(ATTR) + 2) + "|")
for s in sets:
    try:
        c = load(s)["clips"]
    except OSError:
        continue
    hs = " / ".join(right(c, a, held) for a in ATTR[:4])
    print(f"| {s} | " + " | ".join(right(c, a) for a in ATTR) + f" | {hs} |")
print()
print("| set | motion right: linear (left/right/up/down) | bouncing | standing still |")
print("|---|---|---|---|")
for s in sets:
    try:
        c = load(s)["clips"]
    except OSError:
        continue
    print(f"| {s} | " + " | ".join(right(c, "motion", kind=k) for k in ("linear", "bouncing", "standing still")) + " |")
