#!/usr/bin/python3
"""pipelines/quickstart.yaml as an independent PyTorch 1.13 reference.

Nothing here is derived from runpipe's random streams: the initial weights are
PyTorch's own (torch.manual_seed(seed), then the modules' reset_parameters),
and the batch order is torch.utils.data.DataLoader's (shuffle=True, a
torch.Generator seeded with the seed, drop_last=False: 469 batches, the last of
96). Same data (Debian's Fashion-MNIST IDX files, the directory the data.idx
stage of pipelines/quickstart.yaml reads; images as floats in [0, 1], no
normalisation), same model (S0's MNIST CNN: conv32 3x3 + ReLU, maxpool 2,
conv64 3x3 + ReLU, flatten, linear 7744 -> 10), Adam (lr 1e-3, other
parameters default, no weight decay), cross-entropy, batch 128, 3 epochs.
Evaluated on the clean test set and on the upper_bar-occluded copy (top 7 of
28 rows set to 0).

    /usr/bin/python3 tests/bench/quickstart_torch.py [--seeds 1 2 3] [--epochs 3]
        [--threads 2] [--json OUT.json]

Prints one line per seed; --json writes {"side": "pytorch", "runs": [{"seed",
"clean", "upper_bar", "train_loss": [per epoch]}...]} (appended to as each
seed finishes, so a long run can be watched). tests/bench/accuracy_gap.sh runs
this and runpipe for seeds 1..10 and prints means, std and Welch's t.
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

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
        for i in range(0, len(x), 500):
            correct += (model(x[i:i + 500]).argmax(1) == y[i:i + 500]).sum().item()
    return correct / len(x)


def run(seed, epochs, data):
    (xtr, ytr), (xte, yte), xocc = data
    torch.manual_seed(seed)
    model = MnistCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(xtr, ytr), batch_size=128, shuffle=True, drop_last=False,
                        generator=torch.Generator().manual_seed(seed))
    losses = []
    for epoch in range(epochs):
        model.train()
        t0 = time.time()
        tot, correct, n = 0.0, 0, 0
        for xb, yb in loader:
            opt.zero_grad()
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            loss.backward()
            opt.step()
            tot += loss.item() * len(yb)
            correct += (out.argmax(1) == yb).sum().item()
            n += len(yb)
        losses.append(tot / n)
        print(f"  seed {seed} [{epoch + 1:02d}/{epochs:02d}] train loss {tot / n:.4f} "
              f"acc {correct / n:.4f} | {n / (time.time() - t0):.0f} img/s", flush=True)
    return accuracy(model, xte, yte), accuracy(model, xocc, yte), losses


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write per-seed results here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train, test = load("train"), load("t10k")
    xocc = test[0].clone()
    xocc[:, :, :7, :] = 0.0  # upper_bar: top quarter of the rows
    runs = []
    for s in args.seeds:
        clean, occ, losses = run(s, args.epochs, (train, test, xocc))
        runs.append({"seed": s, "clean": clean, "upper_bar": occ, "train_loss": losses})
        print(f"seed {s}: clean test accuracy {clean:.4f}, upper_bar {occ:.4f}, "
              f"AA {(clean + occ) / 2:.4f}", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"side": "pytorch", "epochs": args.epochs, "runs": runs}, f, indent=1)
    cleans = [r["clean"] for r in runs]
    print(f"PyTorch mean clean test accuracy over seeds {args.seeds}: "
          f"{100 * np.mean(cleans):.2f}% (std {100 * np.std(cleans, ddof=1 if len(cleans) > 1 else 0):.2f})")


if __name__ == "__main__":
    main()
