#!/usr/bin/python3
"""Golden fixtures for reading PyTorch checkpoints (.pth) without Python,
written by Debian's python3-torch 1.13. Run from the repository root:
    /usr/bin/python3 tests/golden/make_pth.py
Writes tests/golden/data/pth/*, read by tests/unit/test_pth.c:

  resnet20b.pth             torch.save(model.state_dict()) of a CIFAR ResNet-20
                            (projection shortcuts, torchvision-style names) with
                            random weights and running statistics
  resnet20b.safetensors     its safetensors twin
  resnet20b_expected.safetensors  input [2, 3, 32, 32] and eval-mode logits
  head.pth                  a small net whose head is PyTorch's
                            nn.Sequential(nn.Dropout(0.3), nn.Linear(8, 3))
                            (fc.1.weight, fc.1.bias) + head_expected.safetensors
  views*.pth                strided views, storage offsets, shared storages,
                            float64/float16/bfloat16/int64/int32 tensors, pickle
                            protocols 2 and 4, deflated entries; twin
                            views.safetensors holds the contiguous float32 values
  wrapped.pth, params.pth   a training checkpoint dict, nn.Parameter values
  bad_*.pth                 inputs that must be refused with a clear error

With --check-saved FILE.safetensors, instead loads a runpipe `model.save` file
of the head model into the PyTorch head model with load_state_dict(strict=True)
and prints the largest logit difference (the reverse direction)."""
import io
import os
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_write  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "pth")
torch.manual_seed(0)
torch.set_num_threads(1)
g = torch.Generator().manual_seed(4321)


def formula_input(shape, a):
    n = int(np.prod(shape))
    return torch.from_numpy(np.sin(a * np.arange(n, dtype=np.float64)).astype(np.float32)).reshape(shape)


# ---------------------------------------------------------- CIFAR ResNet-20 (option B)
class Block(nn.Module):
    def __init__(self, inp, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inp != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = self.downsample(x) if self.downsample is not None else x
        return F.relu(out + sc)


class ResNet20B(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        inp = 16
        for s, planes in enumerate([16, 32, 64]):
            blocks = []
            for k in range(3):
                blocks.append(Block(inp, planes, 2 if (s > 0 and k == 0) else 1))
                inp = planes
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*blocks))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def randomise(model):
    """Random weights and running statistics (so eval-mode BN matters)."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(7)
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith("weight") and t.dim() > 1:
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
    return model.eval()


def np32(sd):
    return OrderedDict((k, v.detach().numpy().astype(np.float32)) for k, v in sd.items())


# ---------------------------------------------------------- small net + PyTorch head
class HeadNet(nn.Module):
    """conv -> bn -> relu -> global average pool -> fc, fc replaced as S4 does."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1)
        self.bn1 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def head_net():
    net = HeadNet()
    net.fc = nn.Sequential(nn.Dropout(0.3), nn.Linear(8, 3))
    return net


class Evil:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def rezip_deflated(src, dst):
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zo:
        for info in zi.infolist():
            zo.writestr(info.filename, zi.read(info.filename))


def patch_pickle(src, dst, old, new):
    """Copy a torch zip, replacing bytes in data.pkl (CRCs are rewritten)."""
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zo:
        for info in zi.infolist():
            data = zi.read(info.filename)
            if info.filename.endswith("/data.pkl"):
                assert data.count(old) == 1, (old, data)
                data = data.replace(old, new)
            zo.writestr(info.filename, data)


def main():
    os.makedirs(OUT, exist_ok=True)
    p = lambda name: os.path.join(OUT, name)  # noqa: E731

    net = randomise(ResNet20B())
    x = formula_input((2, 3, 32, 32), 0.37)
    with torch.no_grad():
        logits = net(x)
    torch.save(net.state_dict(), p("resnet20b.pth"))
    st_write.save(p("resnet20b.safetensors"), np32(net.state_dict()))
    st_write.save(p("resnet20b_expected.safetensors"), {"input": x.numpy(), "logits": logits.numpy()})

    hn = randomise(head_net())
    xh = formula_input((2, 3, 8, 8), 0.61)
    with torch.no_grad():
        lh = hn(xh)
    torch.save(hn.state_dict(), p("head.pth"))
    st_write.save(p("head_expected.safetensors"), {"input": xh.numpy(), "logits": lh.numpy()})

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.5 - 3
    views = OrderedDict()
    views["base"] = base
    views["transposed"] = base.t()                       # strides (1, 6)
    views["slice"] = base[1:, ::2]                       # offset 6, strides (6, 2)
    views["row"] = base[2]                               # offset 12, shares the storage
    views["scalar"] = torch.tensor(2.5)
    views["empty"] = torch.zeros(0, 3)
    views["f64"] = torch.linspace(-1, 1, 5, dtype=torch.float64)
    views["f16"] = torch.tensor([0.5, -2.0, 65504.0, 6e-8], dtype=torch.float16)
    views["bf16"] = torch.tensor([1.5, -3.0], dtype=torch.bfloat16)
    views["i64"] = torch.tensor(12345, dtype=torch.int64)
    views["i32"] = torch.tensor([[-7, 8]], dtype=torch.int32)
    views["expanded"] = torch.tensor([1.0, 2.0]).expand(3, 2)  # stride 0
    torch.save(views, p("views.pth"))
    torch.save(views, p("views_p4.pth"), pickle_protocol=4)
    rezip_deflated(p("views.pth"), p("views_deflate.pth"))
    st_write.save(p("views.safetensors"),
                  OrderedDict((k, v.contiguous().float().numpy()) for k, v in views.items()))

    small = OrderedDict(a=torch.ones(2, 2), b=torch.tensor([3.0]))
    torch.save({"epoch": 3, "state_dict": small, "best_acc": 0.5, "arch": "x", "flag": True, "none": None,
                "optimizer": {"state": {0: {"step": 5}}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}},
               p("wrapped.pth"))
    torch.save({"w": nn.Parameter(torch.ones(3)), "b": nn.Parameter(torch.zeros(1))}, p("params.pth"))

    # refused inputs
    torch.save(small, p("bad_legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save({"w": torch.ones(2), "x": Evil()}, p("bad_evil.pth"))
    torch.save(nn.Linear(2, 2), p("bad_module.pth"))
    torch.save({"w": torch.ones(2), "s": {1, 2}}, p("bad_set.pth"), pickle_protocol=4)
    torch.save({"w": torch.ones(2, dtype=torch.uint8)}, p("bad_uint8.pth"))
    torch.save({"epoch": 1, "weights": [torch.ones(2)]}, p("bad_notdict.pth"))
    one = OrderedDict(w=torch.arange(6, dtype=torch.float32))
    torch.save(one, p("one.pth"))
    # storage numel (BININT1 6 before TUPLE) → 2^30: the entry holds only 24 bytes
    patch_pickle(p("one.pth"), p("bad_numel.pth"), b"K\x06t", b"J\x00\x00\x00\x40t")
    # size (6,) → (1048576,): the view reaches past its storage
    patch_pickle(p("one.pth"), p("bad_size.pth"), b"K\x06\x85", b"J\x00\x00\x10\x00\x85")
    os.remove(p("one.pth"))


def check_saved(path):
    """Reverse direction: a runpipe model.save file into PyTorch, strictly."""
    import json
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    sd = OrderedDict()
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        a = np.frombuffer(data[b:e], dtype=np.float32).reshape(v["shape"])
        sd[k] = torch.from_numpy(a.copy())
        if k.endswith("num_batches_tracked"):
            sd[k] = sd[k].long()
    hn = head_net().eval()
    hn.load_state_dict(sd, strict=True)
    print("loaded %d tensors strictly into PyTorch's HeadNet with nn.Sequential(Dropout, Linear) head" % len(sd))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check-saved":
        check_saved(sys.argv[2])
    else:
        main()
