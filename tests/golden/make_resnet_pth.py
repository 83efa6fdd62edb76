#!/usr/bin/python3
"""A torchvision ResNet-18 state dict as torch.save writes it, for loading
ImageNet-style weights into the encoder of arch unet_resnet (S1):
data/pth/resnet18_torchvision.pth, read by tests/plugins/model/test_build.c.

torchvision.models.resnet18() (1000 classes, the layout of
resnet18-f37072fd.pth), every tensor filled by a formula the C test computes
too, so that the 47 MB of float32 deflate to about 100 KB: element i of the
k-th tensor in state_dict order is

    0.001 * (k + 1) + 0.0001 * (i % 4)     (float32 tensors)
    k                                      (num_batches_tracked, int64)

A tensor that lands under another name or in another layout in runpipe does
not match. The zip entries are re-written deflated (torch.save stores them),
which the .pth reader inflates.

    /usr/bin/python3 tests/golden/make_resnet_pth.py
"""
import os
import tempfile
import zipfile

import torch
import torchvision

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "pth", "resnet18_torchvision.pth")

m = torchvision.models.resnet18()
sd = m.state_dict()
with torch.no_grad():
    for k, (n, t) in enumerate(sd.items()):
        if t.dtype == torch.int64:
            t.fill_(k)
            continue
        i = torch.arange(t.numel(), dtype=torch.float64)
        v = 0.001 * (k + 1) + 0.0001 * torch.remainder(i, 4)
        t.copy_(v.reshape(t.shape).to(t.dtype))
with tempfile.TemporaryDirectory() as d:
    tmp = os.path.join(d, "stored.pth")
    torch.save(sd, tmp)
    with zipfile.ZipFile(tmp) as zi, zipfile.ZipFile(OUT, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zo:
        for info in zi.infolist():
            zo.writestr(info.filename, zi.read(info.filename))
# the reverse check: PyTorch reads it back as written
back = torch.load(OUT)
assert list(back) == list(sd) and all(torch.equal(back[n], sd[n]) for n in sd)
print(OUT, os.path.getsize(OUT), "bytes,", len(sd), "tensors,",
      sum(t.numel() for t in sd.values()), "elements")
