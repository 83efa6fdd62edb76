#!/usr/bin/python3
"""Golden values for runpipe's loss components, computed with PyTorch autograd.

Run with Debian's python (torch 1.13):  /usr/bin/python3 tests/golden/make_losses.py
Writes tests/golden/data/losses.json: for each case the loss spec (YAML flow, as
written in a pipeline), float32 logits, int targets, and the loss value and its
gradient wrt the logits, computed in float64 from the float32 inputs.
tests/plugins/loss/test_losses.c compares runpipe against these.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20240611)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "losses.json")


def ce(e=0.0, w=None, ii=-100):
    def f(x, t):
        return F.cross_entropy(x, t, weight=None if w is None else torch.tensor(w, dtype=x.dtype),
                               label_smoothing=e, ignore_index=ii)
    return f


def focal(alpha=1.0, gamma=2.0, ii=-100):
    def f(x, t):
        mask = t != ii
        tt = t.clone()
        tt[~mask] = 0
        lp = F.log_softmax(x, dim=1)
        lt = lp.gather(1, tt.unsqueeze(1)).squeeze(1)
        pt = lt.exp()
        fl = -alpha * (1 - pt) ** gamma * lt
        return fl[mask].mean()
    return f


def complement_flatten(weight=1.0, ii=-100):
    def f(x, t):
        c = x.shape[1]
        mask = t != ii
        tt = t.clone()
        tt[~mask] = 0
        onehot = F.one_hot(tt, c).bool()
        if x.dim() == 4:
            onehot = onehot.permute(0, 3, 1, 2)
        lp = F.log_softmax(x.masked_fill(onehot, float("-inf")), dim=1)
        lp = torch.where(onehot, torch.zeros_like(lp), lp)
        per = -lp.sum(dim=1) / (c - 1)
        return weight * per[mask].mean()
    return f


def dice(smooth=1.0, ii=-100):
    def f(x, t):
        c = x.shape[1]
        mask = t != ii
        tt = t.clone()
        tt[~mask] = 0
        p = F.softmax(x, dim=1)
        y = F.one_hot(tt, c).to(x.dtype)
        if x.dim() == 4:
            p = p.permute(0, 2, 3, 1)
        p = p[mask]   # [M, C]
        y = y[mask]
        inter = (p * y).sum(0)
        s = p.sum(0) + y.sum(0)
        d = (2 * inter + smooth) / (s + smooth)
        return 1 - d.mean()
    return f


def weighted(*terms):
    def f(x, t):
        return sum(w * g(x, t) for w, g in terms)
    return f


def targets(shape, c, ignore=None, frac=0.0):
    t = torch.randint(0, c, shape)
    if ignore is not None:
        m = torch.rand(shape) < frac
        t[m] = ignore
    return t


CASES = [
    # name, spec, logits shape, targets, function
    ("ce_basic", "cross_entropy", (6, 5), dict(), ce()),
    ("ce_weights", "{cross_entropy: {weights: [0.5, 1, 2, 1.5, 0.25]}}", (7, 5), dict(),
     ce(w=[0.5, 1, 2, 1.5, 0.25])),
    ("ce_smoothing", "{cross_entropy: {label_smoothing: 0.1}}", (6, 4), dict(), ce(e=0.1)),
    ("ce_smoothing_ignore", "{cross_entropy: {label_smoothing: 0.2, ignore_index: -1}}", (9, 4),
     dict(ignore=-1, frac=0.3), ce(e=0.2, ii=-1)),
    ("ce_all", "{cross_entropy: {weights: [1, 0.3, 2.5, 0.7], label_smoothing: 0.15, ignore_index: 2}}",
     (10, 4), dict(), ce(e=0.15, w=[1, 0.3, 2.5, 0.7], ii=2)),
    ("ce_scaled", "{cross_entropy: {weight: 2.5}}", (5, 3), dict(), weighted((2.5, ce()))),
    ("ce_4d", "{cross_entropy: {label_smoothing: 0.05}}", (2, 4, 3, 3), dict(), ce(e=0.05)),
    ("pixel_ce", "pixel_cross_entropy", (2, 3, 4, 5), dict(), ce()),
    ("pixel_ce_ignore_weights",
     "{pixel_cross_entropy: {ignore_index: 255, weights: [0.2, 1.0, 3.0]}}", (2, 3, 4, 5),
     dict(ignore=255, frac=0.25), ce(w=[0.2, 1.0, 3.0], ii=255)),
    ("focal_s4", "{focal: {alpha: 1, gamma: 2}}", (8, 3), dict(), focal(1.0, 2.0)),
    ("focal_frac_gamma", "{focal: {alpha: 0.25, gamma: 0.5}}", (8, 5), dict(), focal(0.25, 0.5)),
    ("focal_gamma0", "{focal: {alpha: 1, gamma: 0}}", (6, 4), dict(), focal(1.0, 0.0)),
    ("focal_4d_ignore", "{focal: {gamma: 3, ignore_index: 255}}", (2, 3, 3, 4),
     dict(ignore=255, frac=0.2), focal(1.0, 3.0, 255)),
    ("complement_flatten", "{complement_flatten: {weight: 0.5}}", (8, 7), dict(),
     complement_flatten(0.5)),
    ("complement_flatten_ignore", "{complement_flatten: {ignore_index: -1}}", (8, 4),
     dict(ignore=-1, frac=0.3), complement_flatten(1.0, -1)),
    ("dice_4d", "dice", (2, 4, 5, 5), dict(), dice(1.0)),
    ("dice_smooth0_ignore", "{dice: {smooth: 0, ignore_index: 255}}", (3, 3, 4, 4),
     dict(ignore=255, frac=0.2), dice(0.0, 255)),
    ("dice_2d", "{dice: {smooth: 0.5}}", (12, 4), dict(), dice(0.5)),
    ("sum_s3", "{sum: {terms: [{cross_entropy: {}}, {complement_flatten: {weight: 0.5}}]}}",
     (8, 7), dict(), weighted((1.0, ce()), (0.5, complement_flatten()))),
    ("sum_seg", "{sum: {terms: [pixel_cross_entropy, {dice: {weight: 0.7}}], weight: 2}}",
     (2, 3, 4, 4), dict(), weighted((2.0, ce()), (1.4, dice(1.0)))),
    # S3 as written in pipelines/s3-pacs.yaml: L = CE + lambda * L' for the
    # three lambdas of its matrix, the sum's terms given as a list
    ("sum_s3_list_l0", "{sum: [cross_entropy, {complement_flatten: {weight: 0}}]}", (16, 7), dict(),
     weighted((1.0, ce()), (0.0, complement_flatten()))),
    ("sum_s3_list_l05", "{sum: [cross_entropy, {complement_flatten: {weight: 0.5}}]}", (16, 7), dict(),
     weighted((1.0, ce()), (0.5, complement_flatten()))),
    ("sum_s3_list_l1", "{sum: [cross_entropy, {complement_flatten: {weight: 1.0}}]}", (16, 7), dict(),
     weighted((1.0, ce()), (1.0, complement_flatten()))),
]


def main():
    cases = []
    for name, spec, shape, tkw, fn in CASES:
        x32 = (torch.randn(shape) * 2.5).float()
        c = shape[1]
        tshape = (shape[0],) + tuple(shape[2:])
        t = targets(tshape, c, **tkw)
        x = x32.double().requires_grad_(True)
        loss = fn(x, t)
        loss.backward()
        cases.append({
            "name": name,
            "spec": spec,
            "shape": list(shape),
            "logits": [float(v) for v in x32.flatten().tolist()],
            "target": [int(v) for v in t.flatten().tolist()],
            "loss": float(loss.item()),
            "grad": [float(v) for v in x.grad.flatten().tolist()],
        })
    with open(OUT, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f, indent=0)
        f.write("\n")
    print("wrote %d cases to %s" % (len(cases), OUT))


if __name__ == "__main__":
    main()
