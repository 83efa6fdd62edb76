#!/usr/bin/env python3
"""Golden fixture for arch unet_resnet: data/unet_resnet.safetensors.

A PyTorch reference of segmentation_models_pytorch's Unet(resnet18) layout
(smp is not a Debian package): torchvision's resnet18 trunk as encoder, five
decoder blocks (nearest x2, cat [up, skip], 2 x (conv3x3 no bias + BN + ReLU)),
3x3 segmentation head. Stored: every parameter/buffer name and shape in
state_dict order ("names"), and the eval-mode output for 2 classes on a
[1, 3, 64, 64] input, with every tensor filled by a formula the C test
computes too: element i of the k-th tensor (state_dict order) is
  0.05 * sin(0.37 * i + k)        (weights, biases)
  1 + 0.25 * sin(0.37 * i + k)    (BN weight, running_var)
num_batches_tracked is 0 and the input element i is sin(0.1 * i).

    /usr/bin/python3 tests/golden/make_unet_resnet.py
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_write  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def conv_bn_relu(i, o):
    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))


class Block(nn.Module):
    def __init__(self, i, skip, o):
        super().__init__()
        self.conv1 = conv_bn_relu(i + skip, o)
        self.conv2 = conv_bn_relu(o, o)

    def forward(self, x, skip=None):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class Decoder(nn.Module):
    def __init__(self, enc=(64, 64, 128, 256, 512), dec=(256, 128, 64, 32, 16)):
        super().__init__()
        ins = [enc[-1]] + list(dec[:-1])
        skips = [enc[3], enc[2], enc[1], enc[0], 0]
        self.blocks = nn.ModuleList([Block(i, s, o) for i, s, o in zip(ins, skips, dec)])


class UnetResnet(nn.Module):
    def __init__(self, classes):
        super().__init__()
        r = torchvision.models.resnet18()
        for n in ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]:
            setattr(self, n, getattr(r, n))
        self.decoder = Decoder()
        self.segmentation_head = nn.Sequential(nn.Conv2d(16, classes, 3, padding=1))

    def forward(self, x):
        s0 = self.relu(self.bn1(self.conv1(x)))
        s1 = self.layer1(self.maxpool(s0))
        s2 = self.layer2(s1)
        s3 = self.layer3(s2)
        s4 = self.layer4(s3)
        y = s4
        for b, skip in zip(self.decoder.blocks, [s3, s2, s1, s0, None]):
            y = b(y, skip)
        return self.segmentation_head[0](y)


torch.manual_seed(0)
m = UnetResnet(2).eval()
names = []
with torch.no_grad():
    for k, (n, t) in enumerate(m.state_dict().items()):
        names.append("%s:%s" % (n, ",".join(str(d) for d in t.shape)))
        if n.endswith("num_batches_tracked"):
            t.zero_()
            continue
        i = torch.arange(t.numel(), dtype=torch.float64)
        v = torch.sin(0.37 * i + k)
        is_bn = n.rsplit(".", 1)[0] in dict(m.named_modules()) and isinstance(
            dict(m.named_modules())[n.rsplit(".", 1)[0]], nn.BatchNorm2d)
        if is_bn and (n.endswith(".weight") or n.endswith("running_var")):
            v = 1 + 0.25 * v
        else:
            v = 0.05 * v
        t.copy_(v.reshape(t.shape).to(t.dtype))
    x = torch.sin(0.1 * torch.arange(3 * 64 * 64, dtype=torch.float64)).float().reshape(1, 3, 64, 64)
    y = m(x)
path = os.path.join(OUT, "unet_resnet.safetensors")
st_write.save(path, {"y": y.numpy()}, {"names": ";".join(names), "params": str(
    sum(p.numel() for p in m.parameters()))})
print(path, os.path.getsize(path), y.shape, float(y.abs().mean()))
