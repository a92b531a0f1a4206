#!/usr/bin/env python3
"""Writes the `vidgen batch` job files used for the default model's evaluation table (README,
"The default model beside the flipbook"). Deterministic (random.Random(2026)); run from the repo
root: python3 tools/eval/make_jobs.py. Prompts: 30 drawn from the whole shape-world vocabulary
plus 10 that contain the model's held-out combinations (2 each), each with a fixed seed.
Files: tools/eval/shapes.jsonl (the 40 prompts, no settings) and one job file per setting:
w2_f16, w2_f30, w0_f16, w0_f30 (window 2 = the model's, window 0 = flipbook), and w2_f60,
w2_f120, w0_f120 on the first 10 prompts (clips longer than the 8 training frames); and
mnist_w2_f30 / mnist_w0_f30: 20 Moving MNIST captions for the MNIST model.
tune_w2_f16: 40 other prompts and seeds (random.Random(7), seeds 1001-1040, same mix), for
choosing sampler settings (guidance, steps, chunk overlap) without looking at the evaluation
set, so that the evaluation's figures are not tuned to its own prompts.
tune_motion_f16: 16 bouncing and 16 standing-still prompts (random.Random(99), seeds 5001-5032),
the two motions the default model gets wrong most, for trying sampler settings and checkpoints."""
import json, random

OBJ = ["red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "white"]
BG = ["black", "white", "gray", "blue", "green", "red", "yellow", "purple"]
SHAPES = ["ball", "square", "triangle"]
SIZES = ["small", "big"]
MOTIONS = ["moving left", "moving right", "moving up", "moving down", "bouncing", "standing still"]
LIGHT = ["", "", "", "", ", getting darker", ", getting brighter"]
HELD = [("green", "triangle", None, None), ("blue", "square", "moving left", None), ("red", "ball", None, "gray"),
        ("yellow", "triangle", "bouncing", None), ("pink", "square", "standing still", None)]


def prompt(r, colour=None, shape=None, motion=None, bg=None):
    colour = colour or r.choice(OBJ)
    shape = shape or r.choice(SHAPES)
    motion = motion or r.choice(MOTIONS)
    bg = bg or r.choice([b for b in BG if b != colour])
    return f"a {r.choice(SIZES)} {colour} {shape} {motion} on a {bg} background{r.choice(LIGHT)}"


def prompt_set(r):
    """30 prompts from the whole vocabulary, then 2 with each held-out combination."""
    prompts = [prompt(r) for _ in range(30)]
    for h in HELD:
        for _ in range(2):
            prompts.append(prompt(r, *h))
    return prompts


def main():
    r = random.Random(2026)
    prompts = prompt_set(r)
    jobs = [{"name": f"p{i + 1:02d}", "prompt": p, "seed": i + 1} for i, p in enumerate(prompts)]
    with open("tools/eval/shapes.jsonl", "w") as f:
        for j in jobs:
            f.write(json.dumps(j) + "\n")
    # Moving MNIST model: 10 one-digit clips (a direction each) and 10 two-digit bouncing clips
    mj = []
    dirs = ["left", "right", "up", "down"]
    for i in range(10):
        mj.append({"name": f"m{i + 1:02d}", "prompt": f"the digit {r.randrange(10)} moving {dirs[i % 4]}", "seed": 100 + i})
    for i in range(10):
        a, b = r.randrange(10), r.randrange(10)
        mj.append({"name": f"m{i + 11:02d}", "prompt": f"the digits {a} and {b} bouncing", "seed": 110 + i})
    for name, win in (("mnist_w2_f30", 2), ("mnist_w0_f30", 0)):
        with open(f"tools/eval/{name}.jsonl", "w") as f:
            f.write(json.dumps({"defaults": {"frames": 30, "temporal_window": win}}) + "\n")
            for j in mj:
                f.write(json.dumps(j) + "\n")
    sets = {"w2_f16": (2, 16, 40), "w2_f30": (2, 30, 40), "w0_f16": (0, 16, 40), "w0_f30": (0, 30, 40),
            "w2_f60": (2, 60, 10), "w2_f120": (2, 120, 10), "w0_f120": (0, 120, 10)}
    for name, (win, frames, n) in sets.items():
        with open(f"tools/eval/{name}.jsonl", "w") as f:
            f.write(json.dumps({"defaults": {"frames": frames, "temporal_window": win}}) + "\n")
            for j in jobs[:n]:
                f.write(json.dumps(j) + "\n")
    tprompts = prompt_set(random.Random(7))
    with open("tools/eval/tune_w2_f16.jsonl", "w") as f:
        f.write(json.dumps({"defaults": {"frames": 16, "temporal_window": 2}}) + "\n")
        for i, p in enumerate(tprompts):
            f.write(json.dumps({"name": f"t{i + 1:02d}", "prompt": p, "seed": 1001 + i}) + "\n")
    # the two motions the default model gets wrong most, 16 prompts each (random.Random(99))
    r = random.Random(99)
    with open("tools/eval/tune_motion_f16.jsonl", "w") as f:
        f.write(json.dumps({"defaults": {"frames": 16, "temporal_window": 2}}) + "\n")
        for i, m in enumerate(m for m in ("bouncing", "standing still") for _ in range(16)):
            f.write(json.dumps({"name": f"b{i + 1:02d}", "prompt": prompt(r, motion=m), "seed": 5001 + i}) + "\n")


if __name__ == "__main__":
    main()
