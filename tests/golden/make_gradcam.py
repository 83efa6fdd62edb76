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
import math  # noqa: E402

import torch.nn as nn  # noqa: E402


# ---- copied from make_core.py (importing it would rewrite its fixtures)
def formula_value(name, n):
    """sin(0.37 i + 0.11 k), k = sum of the name's bytes mod 97 (also in C)."""
    k = sum(name.encode()) % 97
    return np.sin(0.37 * np.arange(n, dtype=np.float64) + 0.11 * k)


def formula_fill(model):
    sd = model.state_dict()
    with torch.no_grad():
        for name, t in sd.items():
            n = t.numel()
            if name.endswith("num_batches_tracked"):
                t.zero_()
                continue
            f = formula_value(name, n)
            if name.endswith("running_var"):
                v = 1.0 + 0.25 * (1.0 + f)
            elif t.dim() >= 2:
                v = f / math.sqrt(n / t.shape[0])
            elif name.endswith(".weight"):
                v = 1.0 + 0.1 * f
            else:
                v = 0.1 * f
            t.copy_(torch.from_numpy(v.astype(np.float32)).reshape(t.shape))


# ------------------------------------------------ CIFAR ResNet-20 (torchvision-style names)
class Block(nn.Module):
    def __init__(self, inp, planes, stride, option):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.option, self.planes = option, planes
        self.downsample = None
        self.pad = stride != 1 or inp != planes
        if self.pad and option == "B":
            self.downsample = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

        self.relu = nn.ReLU()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.pad:
            if self.downsample is not None:
                sc = self.downsample(x)
            else:
                sc = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.planes // 4, self.planes // 4), "constant", 0)
        else:
            sc = x
        return self.relu(out + sc)


class CifarResNet(nn.Module):
    def __init__(self, n, option="A", classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        inp = 16
        for s, planes in enumerate([16, 32, 64]):
            blocks = []
            for k in range(n):
                blocks.append(Block(inp, planes, 2 if (s > 0 and k == 0) else 1, option))
                inp = planes
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*blocks))
        self.fc = nn.Linear(64, classes)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


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
