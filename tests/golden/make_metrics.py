#!/usr/bin/python3
"""Reference numbers for the `evaluate` stage's metrics, from scikit-learn.

Run with Debian's python:  /usr/bin/python3 tests/golden/make_metrics.py
Writes tests/golden/data/metrics.json:
  classification: class scores [N, C] (float32), y_true, y_pred = argmax,
    balanced_accuracy_score, expected/maximum calibration error (10, 15 bins),
    sklearn's classification_report(output_dict=True, zero_division=0) over
    the labels present in y_true or y_pred (sklearn's default), the confusion
    matrix over all C classes, and top-k accuracies.
    Built so that one class is never predicted (precision 0/0), one is never
    a true label (recall 0/0) and one appears in neither (left out of the
    report and of the macro average, as sklearn does).
  segmentation: pixel labels, per-class IoU (jaccard_score) and Dice
    (f1_score) over all classes, mean IoU / mean Dice over the classes present,
    pixel accuracy.
tests/plugins/evaluate/test_metrics.c compares runpipe against these.
"""
import json
import os

import numpy as np
import sklearn
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, classification_report,
                             confusion_matrix, f1_score, jaccard_score, top_k_accuracy_score)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "metrics.json")
rng = np.random.default_rng(7)


def ece(scores, y_true, bins):
    """Guo et al. 2017: confidence = max softmax probability, bins (lo, hi]."""
    z = scores.astype(np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    conf = p.max(axis=1)
    correct = p.argmax(axis=1) == y_true
    edges = np.linspace(0, 1, bins + 1)
    e, m = 0.0, 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            gap = abs(correct[sel].mean() - conf[sel].mean())
            e += sel.mean() * gap
            m = max(m, gap)
    return {"ece": float(e), "mce": float(m)}


def classification():
    n, c = 300, 7
    y_true = rng.choice([0, 1, 2, 4, 5, 6], size=n, p=[0.3, 0.2, 0.15, 0.1, 0.15, 0.1])
    scores = rng.normal(size=(n, c)).astype(np.float32)
    # make the true class likely to win, so the numbers look like a classifier
    scores[np.arange(n), y_true] += rng.uniform(0, 2.5, size=n).astype(np.float32)
    scores[:, 5] -= 10.0     # class 5 is never predicted: precision 0/0
    scores[:, 3] += np.where(rng.uniform(size=n) < 0.05, 10.0, -10.0).astype(np.float32)
    # class 3 is predicted a few times but never true: recall 0/0
    # class 6: make sure it is neither true nor predicted (left out of the report)
    y_true[y_true == 6] = 0
    scores[:, 6] = -20.0
    y_pred = scores.argmax(axis=1)
    rep = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    labels = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    cm = confusion_matrix(y_true, y_pred, labels=list(range(c)))
    topk = {str(k): float(top_k_accuracy_score(y_true, scores, k=k, labels=list(range(c))))
            for k in (1, 2, 3)}
    return {
        "classes": c,
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "ece": {str(b): ece(scores, y_true, b) for b in (10, 15)},
        "scores": [float(v) for v in scores.flatten()],
        "y_true": y_true.tolist(),
        "y_pred": y_pred.tolist(),
        "labels": labels,
        "report": rep,
        "confusion": cm.tolist(),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "topk": topk,
    }


def segmentation():
    c, n = 5, 2000
    y_true = rng.choice([0, 1, 2, 3], size=n, p=[0.5, 0.3, 0.15, 0.05])
    y_pred = np.where(rng.uniform(size=n) < 0.7, y_true, rng.choice([0, 1, 2, 3], size=n))
    # class 4: in neither; class 3 never predicted
    y_pred[y_pred == 3] = 2
    labels = list(range(c))
    iou = jaccard_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    dice = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    present = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    return {
        "classes": c,
        "y_true": y_true.tolist(),
        "y_pred": y_pred.tolist(),
        "iou": iou.tolist(),
        "dice": dice.tolist(),
        "present": present,
        "mean_iou": float(jaccard_score(y_true, y_pred, average="macro", zero_division=0)),
        "mean_dice": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "pixel_accuracy": float(accuracy_score(y_true, y_pred)),
    }


def main():
    out = {"sklearn": sklearn.__version__, "classification": classification(),
           "segmentation": segmentation()}
    with open(OUT, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
