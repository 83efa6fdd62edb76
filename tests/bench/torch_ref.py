#!/usr/bin/python3
"""PyTorch reference timings for `make bench` (run with Debian's /usr/bin/python3).

  torch_ref.py --layers [--threads 2] [--reps 7] [--cputime]
      per-convolution forward / backward-data / backward-weight times for the
      geometries of tests/bench/bench_conv.c (same list, same order).
  torch_ref.py --models [--threads 2] [--only NAME] [--layout nchw|cl] [--runs 5]
      training (forward + cross-entropy + backward + optimizer step) and
      inference images/second of the models of bench_models.c (median of the
      timed runs after warm-up) and the process' peak RSS; one line per model:
      "model <name> train <img/s> infer <img/s> rss_mb <MB> layout <fmt>".
      run.sh runs each layout in its own process and keeps the faster.
"""
import argparse
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# Keep in sync with G[] in bench_conv.c: name, n, c, h, w, k, kernel, stride, pad
LAYERS = [
    ("r20.conv1 3-16 32", 128, 3, 32, 32, 16, 3, 1, 1),
    ("r20.s1 16-16 32", 128, 16, 32, 32, 16, 3, 1, 1),
    ("r20.s2a 16-32 s2", 128, 16, 32, 32, 32, 3, 2, 1),
    ("r20.s2 32-32 16", 128, 32, 16, 16, 32, 3, 1, 1),
    ("r20.s3a 32-64 s2", 128, 32, 16, 16, 64, 3, 2, 1),
    ("r20.s3 64-64 8", 128, 64, 8, 8, 64, 3, 1, 1),
    ("mnist 1-32 28", 128, 1, 28, 28, 32, 3, 1, 1),
    ("mnist.c2 32-64 13", 128, 32, 13, 13, 64, 3, 1, 0),
    ("cifar 32-32 32", 128, 32, 32, 32, 32, 3, 1, 1),
    ("cifar 64-64 16", 128, 64, 16, 16, 64, 3, 1, 1),
    ("r18.conv1 7x7 s2", 32, 3, 224, 224, 64, 7, 2, 3),
    ("r18.l1 64-64 56", 32, 64, 56, 56, 64, 3, 1, 1),
    ("r18.l2 128 28", 32, 128, 28, 28, 128, 3, 1, 1),
    ("r18.l3a 128-256 s2", 32, 128, 28, 28, 256, 3, 2, 1),
    ("r18.l3 256 14", 32, 256, 14, 14, 256, 3, 1, 1),
    ("r18.l4 512 7", 32, 512, 7, 7, 512, 3, 1, 1),
    ("r18.ds3 1x1 s2", 32, 128, 28, 28, 256, 1, 2, 0),
    ("r50.1x1 256-64 56", 32, 256, 56, 56, 64, 1, 1, 0),
    ("r50.1x1 64-256 56", 32, 64, 56, 56, 256, 1, 1, 0),
    ("r50.1x1 512-128 28", 32, 512, 28, 28, 128, 1, 1, 0),
    ("r50.1x1 256-1024 14", 32, 256, 14, 14, 1024, 1, 1, 0),
]


# --cputime: process CPU time instead of wall time (as bench_conv's and
# bench_models' RP_BENCH_CPUTIME=1; with 1 thread, a work figure that a loaded
# machine disturbs less)
CLOCK = time.perf_counter


def median_time(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t0 = CLOCK()
        fn()
        ts.append(CLOCK() - t0)
    return statistics.median(ts)


def bench_layers(reps, only):
    print("%-20s %9s %9s %9s   %8s %8s %8s  (ms, GFLOP/s)  torch threads=%d"
          % ("layer", "fwd ms", "bwd-d ms", "bwd-w ms", "fwd", "bwd-d", "bwd-w",
             torch.get_num_threads()))
    for name, n, c, h, w, k, ks, s, p in LAYERS:
        if only and only not in name:
            continue
        best = None
        for fmt in (torch.contiguous_format, torch.channels_last):
            x = torch.randn(n, c, h, w).contiguous(memory_format=fmt)
            wt = torch.randn(k, c, ks, ks).contiguous(memory_format=fmt)
            b = torch.randn(k)
            y = F.conv2d(x, wt, b, s, p)
            dy = torch.randn_like(y)
            oh, ow = y.shape[2], y.shape[3]
            with torch.no_grad():
                tf = median_time(lambda: F.conv2d(x, wt, b, s, p), reps)
            # backward pieces: the convolution_backward op with output masks
            def bd():
                torch.ops.aten.convolution_backward(dy, x, wt, [k], [s, s], [p, p], [1, 1],
                                                    False, [0, 0], 1, [True, False, False])
            def bw():
                torch.ops.aten.convolution_backward(dy, x, wt, [k], [s, s], [p, p], [1, 1],
                                                    False, [0, 0], 1, [False, True, True])
            tbd = median_time(bd, reps)
            tbw = median_time(bw, reps)
            r = (tf, tbd, tbw)
            if best is None or sum(r) < sum(best):
                best = r
        flops = 2.0 * n * k * oh * ow * c * ks * ks
        print("%-20s %9.3f %9.3f %9.3f   %8.1f %8.1f %8.1f" % (
            name, best[0] * 1e3, best[1] * 1e3, best[2] * 1e3,
            flops / best[0] * 1e-9, flops / best[1] * 1e-9, flops / best[2] * 1e-9))
        sys.stdout.flush()


# ---- models (keep in sync with SPECS in bench_models.c) ------------------------

def mnist_cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                         nn.ReLU(), nn.Flatten(), nn.Linear(64 * 11 * 11, 10))


def cifar_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
        nn.Linear(64 * 6 * 6, 512), nn.ReLU(), nn.Dropout(0.5), nn.Linear(512, 10))


class BasicBlockA(nn.Module):
    """CIFAR ResNet block (He et al. 2016, option A: identity shortcut, zero-padded
    channels and stride-2 subsampling when the shape changes)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad = stride, cout - cin

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = x
        if self.stride != 1 or self.pad:
            sc = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + sc)


class CifarResNet(nn.Module):
    def __init__(self, n=3, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlockA(cin, cout, stride if i == 0 else 1))
                cin = cout
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet18():
    import torchvision
    return torchvision.models.resnet18(num_classes=1000)


# name: (builder, batch, channels, size, optimizer, frozen prefixes, steps per run)
MODELS = {
    "mnist_cnn": (mnist_cnn, 128, 1, 28, lambda p: torch.optim.Adam(p, lr=1e-3), (), 4),
    "cifar_cnn": (cifar_cnn, 128, 3, 32, lambda p: torch.optim.RMSprop(p, lr=1e-4), (), 3),
    "resnet20": (CifarResNet, 128, 3, 32,
                 lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-4), (), 2),
    "resnet18": (resnet18, 32, 3, 224,
                 lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01), (), 1),
    "resnet18_frozen": (resnet18, 32, 3, 224,
                        lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01),
                        ("conv1.", "bn1.", "layer1.", "layer2.", "layer3."), 1),
}


def bench_models(runs, only, layout):
    fmt = torch.channels_last if layout == "cl" else torch.contiguous_format
    for name, (build, batch, c, hw, make_opt, frozen, steps) in MODELS.items():
        if only and name != only:
            continue
        model = build().to(memory_format=fmt)
        for pname, p in model.named_parameters():
            if pname.startswith(frozen):
                p.requires_grad_(False)
        opt = make_opt([p for p in model.parameters() if p.requires_grad])
        x = torch.randn(batch, c, hw, hw).contiguous(memory_format=fmt)
        t = torch.randint(0, 10, (batch,))

        def train_step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), t)
            loss.backward()
            opt.step()

        model.train()
        train = []
        for run in range(-1, runs):
            n = 1 if run < 0 else steps
            t0 = CLOCK()
            for _ in range(n):
                train_step()
            if run >= 0:
                train.append(n * batch / (CLOCK() - t0))
        model.eval()
        infer = []
        with torch.no_grad():
            for run in range(-1, runs):
                n = 1 if run < 0 else 2 * steps
                t0 = CLOCK()
                for _ in range(n):
                    model(x)
                if run >= 0:
                    infer.append(n * batch / (CLOCK() - t0))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print("model %s train %.1f infer %.1f rss_mb %.1f layout %s" % (
            name, statistics.median(train), statistics.median(infer), rss, layout))
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", action="store_true")
    ap.add_argument("--models", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--only", default=None)
    ap.add_argument("--layout", choices=("nchw", "cl"), default="nchw")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cputime", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.cputime:
        global CLOCK
        CLOCK = time.process_time
    torch.manual_seed(0)
    if a.layers:
        bench_layers(a.reps, a.only)
    if a.models:
        bench_models(a.runs, a.only, a.layout)


if __name__ == "__main__":
    main()
