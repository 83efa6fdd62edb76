#!/usr/bin/python3
"""Clean test accuracy of the quick start, runpipe against PyTorch, over seeds.

Runs pipelines/quickstart.yaml ($RUNPIPE_BUILD/bin/runpipe, default build/, --seed N --no-cache) and the
independent PyTorch reference tests/bench/quickstart_torch.py for the same
seed numbers (the two sides share no random draws: a seed number only names a
run), writes one JSON per side into --out, and prints per-seed accuracies,
mean and sample std per side, the difference of the means and Welch's t.

    nice /usr/bin/python3 tests/bench/accuracy_gap.py [--seeds 1 .. 10] [--side both]
        [--threads 2] [--out runs/accuracy-gap]
    /usr/bin/python3 tests/bench/accuracy_gap.py --summary runpipe.json pytorch.json

A side's JSON is rewritten after every seed, so an interrupted run keeps what
it finished. Long: about 1 min (runpipe) and 2-5 min (PyTorch) per seed on two
idle cores; use `nice` on a shared machine.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("RUNPIPE_BUILD", "build"))


def run_runpipe(seeds, threads, path):
    env = dict(os.environ, RUNPIPE_PLUGIN_PATH=os.path.join(BUILD, "lib/runpipe/plugins"),
               OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "passive"))
    runs = []
    for s in seeds:
        out = tempfile.mkdtemp(prefix=f"quickstart-seed{s}-")
        subprocess.run([os.path.join(BUILD, "bin/runpipe"), "run",
                        os.path.join(ROOT, "pipelines/quickstart.yaml"), "--out", out,
                        "--seed", str(s), "--threads", str(threads), "--quiet", "--no-cache"],
                       check=True, env=env)
        with open(os.path.join(out, "metrics.json")) as f:
            sc = json.load(f)["eval"]["scalars"]
        losses = []
        with open(os.path.join(out, "fit", "history.csv")) as f:
            head = f.readline().strip().split(",")
            for line in f:
                losses.append(float(line.split(",")[head.index("train_loss")]))
        runs.append({"seed": s, "clean": sc["clean.accuracy"], "upper_bar": sc["upper_bar.accuracy"],
                     "train_loss": losses, "run_dir": out})
        print(f"runpipe seed {s}: clean {sc['clean.accuracy']:.4f} upper_bar "
              f"{sc['upper_bar.accuracy']:.4f} final train loss {losses[-1]:.4f}", flush=True)
        with open(path, "w") as f:
            json.dump({"side": "runpipe", "threads": threads, "runs": runs}, f, indent=1)


def run_torch(seeds, threads, path):
    subprocess.run([sys.executable, os.path.join(ROOT, "tests/bench/quickstart_torch.py"),
                    "--seeds", *map(str, seeds), "--threads", str(threads), "--json", path],
                   check=True)


def stats(xs):
    n = len(xs)
    m = sum(xs) / n
    v = sum((x - m) ** 2 for x in xs) / (n - 1) if n > 1 else float("nan")
    return n, m, v


def summary(paths):
    sides = []
    for p in paths:
        with open(p) as f:
            d = json.load(f)
        sides.append((d["side"], {r["seed"]: r for r in d["runs"]}))
    seeds = sorted(set().union(*[set(s[1]) for s in sides]))
    print("seed  " + "  ".join(f"{name:>10}" for name, _ in sides))
    for s in seeds:
        print(f"{s:4d}  " + "  ".join(
            f"{100 * r[s]['clean']:9.2f}%" if s in r else f"{'-':>10}" for _, r in sides))
    res = []
    for name, r in sides:
        n, m, v = stats([x["clean"] * 100 for x in r.values()])
        lo = stats([x["train_loss"][-1] for x in r.values()])
        print(f"{name:>8}: n {n}, clean accuracy {m:.2f} +- {math.sqrt(v):.2f} % (mean +- sample std), "
              f"final train loss {lo[1]:.4f} +- {math.sqrt(lo[2]):.4f}")
        res.append((n, m, v))
    if len(res) == 2:
        (n1, m1, v1), (n2, m2, v2) = res
        se = math.sqrt(v1 / n1 + v2 / n2)
        dfree = (v1 / n1 + v2 / n2) ** 2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1))
        print(f"{sides[0][0]} - {sides[1][0]}: {m1 - m2:+.2f} %p, Welch t = {(m1 - m2) / se:.2f} "
              f"(df {dfree:.1f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(1, 11)))
    ap.add_argument("--side", choices=["both", "runpipe", "torch"], default="both")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "accuracy-gap"))
    ap.add_argument("--summary", nargs="+", metavar="JSON", help="only summarise these files")
    args = ap.parse_args()
    if args.summary:
        summary(args.summary)
        return
    os.makedirs(args.out, exist_ok=True)
    rp, pt = os.path.join(args.out, "runpipe.json"), os.path.join(args.out, "pytorch.json")
    if args.side in ("both", "runpipe"):
        run_runpipe(args.seeds, args.threads, rp)
    if args.side in ("both", "torch"):
        run_torch(args.seeds, args.threads, pt)
    summary([p for p in (rp, pt) if os.path.exists(p)])


if __name__ == "__main__":
    main()
