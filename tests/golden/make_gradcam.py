#!/usr/bin/python3
"""Golden fixture for Grad-CAM (engine/nn/gradcam.c), from PyTorch 1.13 with
the usual hook-based implementation (a forward hook keeps the feature map
and registers a tensor hook for its gradient). Run from the repository root:
    /usr/bin/python3 tests/golden/make_gradcam.py
Writes tests/golden/data/gradcam.safetensors (all F32; class ids and
positions as exact small floats), read by tests/unit/test_gradcam.c.

Model: CIFAR ResNet-20 (shortcut A) in eval mode with the formula weights of
make_core.py (both sides compute them, so no weights are stored). Feature
map: the output of layer3 (runpipe node layer3.2.relu2, 64 x 8 x 8). The
reference is computed in float64; maps are normalised per image by their
maximum (M / max M) before they are stored."""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_write  # noqa: E402
from formula_models import CifarResNet, formula_fill  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def gradcam(model, x, cls):
    """Hook-based Grad-CAM (Selvaraju et al. 2017): w_k = mean_ij dS_c/dF^k_ij,
    M = ReLU(sum_k w_k F^k), bilinear (align_corners=False) to the input size."""
    store = {}

    def fwd_hook(mod, inp, out):
        store["f"] = out
        out.register_hook(lambda g: store.__setitem__("g", g))

    h = model.layer3.register_forward_hook(fwd_hook)
    y = model(x)
    h.remove()
    if cls is None:
        cls = y.argmax(1)
    model.zero_grad()
    y.gather(1, cls[:, None]).sum().backward()
    w = store["g"].mean(dim=(2, 3), keepdim=True)
    cam = F.relu((w * store["f"]).sum(1, keepdim=True))
    up = F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    return y.detach(), cls, cam[:, 0].detach(), up.detach()


def main():
    g = torch.Generator().manual_seed(2024)
    net = CifarResNet(3, "A")
    formula_fill(net)
    net.double().eval()
    x = torch.randn(6, 3, 32, 32, generator=g, dtype=torch.float64).float().double()
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    out, meta = {"x": x.float().numpy(), "labels": labels.numpy().astype(np.float32)}, {}
    for name, cls in [("true", labels), ("pred", None)]:
        y, c, cam, up = gradcam(net, x.clone().requires_grad_(False), cls)
        mx = up.flatten(1).max(1).values
        assert (mx > 0).all(), "a map is all zero: pick another input"
        norm = up / mx[:, None, None]
        flat = up.flatten(1)
        am = flat.argmax(1)
        # relative gap between the largest and the second largest value: the
        # bilinear map repeats border values (clamped source index), so exact
        # ties occur; the test then accepts any position holding the maximum
        top2 = flat.topk(2, dim=1).values
        gap = (top2[:, 0] - top2[:, 1]) / top2[:, 0]
        out[name + ".argmax_gap"] = gap.numpy().astype(np.float32)
        out[name + ".class"] = c.numpy().astype(np.float32)
        out[name + ".feature_map"] = cam.numpy().astype(np.float32)
        out[name + ".map"] = norm.numpy().astype(np.float32)
        out[name + ".argmax"] = np.stack([(am // x.shape[3]).numpy(), (am % x.shape[3]).numpy()], 1).astype(np.float32)
        out[name + ".logits"] = y.numpy().astype(np.float32)
        print(name, "classes", c.tolist(), "argmax", out[name + ".argmax"].tolist(), "gaps", ["%.1e" % v for v in gap.tolist()])
    st_write.save(os.path.join(OUT, "gradcam.safetensors"), out, meta)


if __name__ == "__main__":
    main()
