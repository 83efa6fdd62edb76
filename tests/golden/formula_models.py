"""Models and formula weights shared by the golden-fixture generators
(make_core.py, make_gradcam.py): weights and inputs follow a formula that the
C tests compute too (rp_test_formula_fill in tests/harness.c), so large
models need no stored weights."""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- formula weights
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


def formula_input(shape, a):
    n = int(np.prod(shape))
    return torch.from_numpy(np.sin(a * np.arange(n, dtype=np.float64)).astype(np.float32)).reshape(shape)


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
