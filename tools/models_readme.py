#!/usr/bin/env python3
"""Prints the run record of a vidgen training folder (train/default, train/mnist): every session
(steps, wall time, date) from the checkpoint's __metadata__ "sessions", and the final loss (mean of
the last 20 logged steps of log.jsonl). Used to fill models/README.md. Usage:
python3 tools/models_readme.py train/default [train/mnist ...]"""
import json, struct, sys


def meta(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


for run in sys.argv[1:]:
    m = meta(f"{run}/ckpt.safetensors")
    ses = json.loads(m["sessions"])
    log = [json.loads(l) for l in open(f"{run}/log.jsonl") if l.strip()]
    notes = [l["note"] for l in log if "note" in l]
    log = [l for l in log if "loss" in l]
    last = log[-20:]
    total = sum(s["seconds"] for s in ses)
    print(f"## {run}: step {m['step']}, {total / 60:.1f} min of training in {len(ses)} runs, "
          f"final loss {sum(l['loss'] for l in last) / len(last):.4f} (mean of the last {len(last)} logged steps)")
    for n in notes:
        print(f"Note: {n}.")
    print("| run | ended (UTC) | steps | wall time |")
    print("|---|---|---|---|")
    for i, s in enumerate(ses):
        print(f"| {i + 1} | {s['date'].replace('T', ' ').rstrip('Z')} | {s['start_step']} → {s['end_step']} | {s['seconds'] / 60:.1f} min |")
    print()
