#!/usr/bin/python3
"""PyTorch reference timings for `make bench` (run with Debian's /usr/bin/python3).

  torch_ref.py --layers [--threads 2] [--reps 7]
      per-convolution forward / backward-data / backward-weight times for the
      geometries of tests/bench/bench_conv.c (same list, same order).
  torch_ref.py --models [--threads 2] [--only NAME]
      training and inference images/second of the models of bench_models.c,
      best of NCHW and channels_last, and peak RSS; one line per model:
      "model <name> train <img/s> infer <img/s> rss_mb <MB> layout <fmt>".
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
    ("cifar 32-32 32", 128, 32, 32, 32, 32, 3, 1, 1),
    ("cifar 64-64 16", 128, 64, 16, 16, 64, 3, 1, 1),
    ("r18.conv1 7x7 s2", 32, 3, 224, 224, 64, 7, 2, 3),
    ("r18.l1 64-64 56", 32, 64, 56, 56, 64, 3, 1, 1),
    ("r18.l2 128 28", 32, 128, 28, 28, 128, 3, 1, 1),
    ("r18.l3 256 14", 32, 256, 14, 14, 256, 3, 1, 1),
    ("r18.l4 512 7", 32, 512, 7, 7, 512, 3, 1, 1),
    ("r18.ds3 1x1 s2", 32, 128, 28, 28, 256, 1, 2, 0),
    ("r50.1x1 256-64 56", 32, 256, 56, 56, 64, 1, 1, 0),
]


def median_time(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", action="store_true")
    ap.add_argument("--models", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--only", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.layers:
        bench_layers(a.reps, a.only)
    if a.models:
        bench_models(a.reps, a.only)


if __name__ == "__main__":
    main()
