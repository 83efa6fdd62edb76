#!/usr/bin/python3
"""Golden fixture for a short training run of S0's MNIST CNN (the quick start's
model): data/mnist_train.safetensors.

Contents (all read by tests/unit/test_train_golden.c, which needs no Python):
  x        [S, 1, 28, 28] F16  pixel values 0..255 (exact in F16) of a small
                               subset of Debian's Fashion-MNIST training set
                               (the first S images); the test and this script
                               both scale them by / 255 in float32
  y        [S] I64             their labels
  order    [STEPS, B] I64      the batch order: one torch.randperm(S) per pass
  init.*   F16                 initial weights (torch.manual_seed(0), PyTorch's
                               default init, rounded to F16 so that both sides
                               start from exactly the same float32 values)
  loss     [STEPS] F64         PyTorch's cross-entropy of every step (before
                               that step's update), Adam lr 1e-3, float32
Metadata: batch, steps, torch version.

Why 30 steps and |runpipe - PyTorch| <= 5e-5 per step (tests/unit/
test_train_golden.c): the sides differ by float rounding from the first step
and training amplifies it. Measured with a 200-step fixture (--steps 200,
runpipe at 1 and 2 threads), the largest loss difference was 8e-7 in steps
1-10, 4.7e-6 in 11-20, 6.8e-6 in 21-30, 5.0e-5 in 31-40 and 9e-5 in 41-60;
after ~60 steps the 128 images are memorised (loss 0.08 at step 100, 0.002 at
200), so more steps test rounding drift, not the arithmetic. 5e-5 leaves 7x
headroom over the drift at 30 steps and still catches small defects: over the
same 30 steps PyTorch itself moves by 3.6e-4 with Adam eps 1e-7 instead of
1e-8, 2.4e-3 with images scaled by 1/256, 2.8e-3 with weight decay 1e-4 and
8e-3 with lr 1.01e-3.

    /usr/bin/python3 tests/golden/make_mnist_train.py [--steps N]
"""
import argparse
import gzip
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
import st_write  # noqa: E402
from quickstart_torch import MnistCNN  # noqa: E402

DIR = "/usr/share/datasets/fashion-mnist"
S, B = 128, 32


def read_idx(path, count):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = int.from_bytes(data[0:4], "big") & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    return arr[:count]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--out", default=os.path.join(HERE, "data", "mnist_train.safetensors"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    xu8 = read_idx(os.path.join(DIR, "train-images-idx3-ubyte.gz"), S)
    y = read_idx(os.path.join(DIR, "train-labels-idx1-ubyte.gz"), S).astype(np.int64)
    x = torch.from_numpy(xu8.astype(np.float32)).unsqueeze(1) / 255.0
    torch.manual_seed(0)
    model = MnistCNN()
    init = {k: v.detach().numpy().astype(np.float16) for k, v in model.state_dict().items()}
    model.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in init.items()})
    g = torch.Generator().manual_seed(0)
    order = torch.cat([torch.randperm(S, generator=g) for _ in range((args.steps * B + S - 1) // S)])
    order = order[:args.steps * B].reshape(args.steps, B)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    yt = torch.from_numpy(y)
    losses = []
    for s in range(args.steps):
        idx = order[s]
        opt.zero_grad()
        loss = F.cross_entropy(model(x[idx]), yt[idx])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    tensors = {"x": xu8.astype(np.float16).reshape(S, 1, 28, 28), "y": y,
               "order": order.numpy().astype(np.int64), "loss": np.array(losses, dtype=np.float64)}
    tensors.update({"init." + k: v for k, v in init.items()})
    st_write.save(args.out, tensors, {"batch": B, "steps": args.steps, "torch": torch.__version__})
    print(f"{args.out}: {args.steps} steps, loss {losses[0]:.4f} -> {losses[-1]:.4f}")


if __name__ == "__main__":
    main()
