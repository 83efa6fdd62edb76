#!/usr/bin/python3
"""pipelines/quickstart.yaml written in PyTorch, for comparing accuracy.

Same data (Debian's Fashion-MNIST IDX files, read directly; images as floats
in [0, 1], no normalisation), same model (S0's MNIST CNN: conv32 3x3 + ReLU,
maxpool 2, conv64 3x3 + ReLU, flatten, linear 7744 -> 10; PyTorch's default
initialisation), same optimizer (Adam, lr 1e-3, other params default), batch
128, reshuffled every epoch, 3 epochs, cross-entropy. Evaluated on the clean
test set and on the upper_bar-occluded copy (top 7 of 28 rows set to 0).

    /usr/bin/python3 tests/bench/quickstart_torch.py [--seeds 1 2 3] [--epochs 3] [--runpipe]

Prints one line per seed and the mean clean test accuracy over the seeds.
With --runpipe it also runs pipelines/quickstart.yaml with the same seeds
(build/bin/runpipe, --seed N) and prints both means side by side.
"""
import argparse
import gzip
import json
import os
import subprocess
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)


def load(prefix):
    x = read_idx(os.path.join(DIR, f"{prefix}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(DIR, f"{prefix}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)  # [N, 1, 28, 28]
    return x, torch.from_numpy(y.astype(np.int64))


class MnistCNN(nn.Module):
    """SEEDS.md S0: Conv2D(32), MaxPool2D, Conv2D(64), Flatten, Dense (+ softmax in the loss)."""

    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc = nn.Linear(64 * 11 * 11, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.relu(self.conv2(x))
        return self.fc(torch.flatten(x, 1))


def accuracy(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 256):
            correct += (model(x[i:i + 256]).argmax(1) == y[i:i + 256]).sum().item()
    return correct / len(x)


def run(seed, epochs, data):
    (xtr, ytr), (xte, yte), xocc = data
    torch.manual_seed(seed)
    model = MnistCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=g)
        tot, correct, n = 0.0, 0, 0
        for i in range(0, len(xtr), 128):
            idx = perm[i:i + 128]
            xb, yb = xtr[idx], ytr[idx]
            opt.zero_grad()
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
            correct += (out.argmax(1) == yb).sum().item()
            n += len(idx)
        print(f"  seed {seed} [{epoch + 1:02d}/{epochs:02d}] train loss {tot / n:.4f} "
              f"acc {correct / n:.4f} | {n / (time.time() - t0):.0f} img/s", flush=True)
        t0 = time.time()
    clean = accuracy(model, xte, yte)
    occ = accuracy(model, xocc, yte)
    return clean, occ


def run_runpipe(seeds, epochs, threads):
    """pipelines/quickstart.yaml through the binary, one run per seed."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, RUNPIPE_PLUGIN_PATH=os.path.join(root, "build/lib/runpipe/plugins"),
               OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "passive"))
    accs = []
    for s in seeds:
        out = tempfile.mkdtemp(prefix=f"quickstart-seed{s}-")
        t0 = time.time()
        subprocess.run([os.path.join(root, "build/bin/runpipe"), "run",
                        os.path.join(root, "pipelines/quickstart.yaml"), "--out", out,
                        "--seed", str(s), "--threads", str(threads), "--quiet",
                        "--set", f"vars.epochs={epochs}"], check=True, env=env)
        with open(os.path.join(out, "metrics.json")) as f:
            sc = json.load(f)["eval"]["scalars"]
        accs.append(sc["clean.accuracy"])
        print(f"runpipe seed {s}: clean test accuracy {sc['clean.accuracy']:.4f}, upper_bar "
              f"{sc['upper_bar.accuracy']:.4f} ({time.time() - t0:.0f} s, run folder {out})",
              flush=True)
    return accs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runpipe", action="store_true",
                    help="also run pipelines/quickstart.yaml with the same seeds and compare")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train, test = load("train"), load("t10k")
    xocc = test[0].clone()
    xocc[:, :, :7, :] = 0.0  # upper_bar: top quarter of the rows
    cleans = []
    for s in args.seeds:
        clean, occ = run(s, args.epochs, (train, test, xocc))
        cleans.append(clean)
        print(f"seed {s}: clean test accuracy {clean:.4f}, upper_bar {occ:.4f}, "
              f"AA {(clean + occ) / 2:.4f}", flush=True)
    print(f"PyTorch mean clean test accuracy over seeds {args.seeds}: "
          f"{100 * np.mean(cleans):.2f}% (std {100 * np.std(cleans):.2f})")
    if args.runpipe:
        rp = run_runpipe(args.seeds, args.epochs, args.threads)
        print(f"runpipe mean clean test accuracy over seeds {args.seeds}: "
              f"{100 * np.mean(rp):.2f}% (std {100 * np.std(rp):.2f}); "
              f"difference {100 * (np.mean(rp) - np.mean(cleans)):+.2f} %p")


if __name__ == "__main__":
    main()
