#!/usr/bin/python3
"""Golden fixtures for the numerical core, from PyTorch 1.13 (Debian's
python3-torch). Run from the repository root:  /usr/bin/python3 tests/golden/make_core.py
Writes tests/golden/data/core_*.safetensors, read by tests/unit/test_golden.c
and tests/unit/test_zoo.c. Large models are not stored: their weights and
inputs follow a formula both sides compute (formula_models.py and
rp_test_formula_fill in tests/harness.c), so only outputs and gradient summaries are
committed."""
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
torch.manual_seed(0)
torch.set_num_threads(1)
g = torch.Generator().manual_seed(1234)


def rnd(*shape):
    return torch.randn(*shape, generator=g)


# ---------------------------------------------------------------- layers
layers, meta = {}, {}


def case(name, ltype, opts, mod, x, train=True, params=None, extra_inputs=()):
    """Run module `mod` on x (+ extra inputs), loss = sum(y * r); store
    inputs, parameters/buffers before, output, input and parameter grads, and
    buffers after the step."""
    meta["case." + name] = "{type: %s, train: %s, opts: %s}" % (ltype, "true" if train else "false", opts)
    mod.train(train)
    xs = [x] + list(extra_inputs)
    for i, t in enumerate(xs):
        layers["%s.x%d" % (name, i)] = t.numpy().copy()
    for k, v in mod.state_dict().items():
        layers["%s.p.%s" % (name, k)] = v.numpy().astype(np.float32).copy()
    xs = [t.clone().requires_grad_(True) for t in xs]
    y = mod(*xs)
    r = rnd(*y.shape)
    (y * r).sum().backward()
    layers[name + ".r"] = r.numpy()
    layers[name + ".y"] = y.detach().numpy()
    for i, t in enumerate(xs):
        layers["%s.dx%d" % (name, i)] = t.grad.numpy()
    for k, p in mod.named_parameters():
        layers["%s.g.%s" % (name, k)] = p.grad.numpy()
    for k, v in mod.named_buffers():
        layers["%s.after.%s" % (name, k)] = v.numpy().astype(np.float32).copy()


class Cat(nn.Module):
    def forward(self, a, b):
        return torch.cat([a, b], 1)


class Add(nn.Module):
    def forward(self, a, b):
        return a + b


def with_params(mod):
    with torch.no_grad():
        for p in mod.parameters():
            p.copy_(rnd(*p.shape) * 0.5)
    return mod


case("conv_s2", "conv2d", "{out: 4, kernel: 3, stride: 2, padding: 1}", with_params(nn.Conv2d(3, 4, 3, 2, 1)), rnd(2, 3, 9, 8))
case("conv_dil", "conv2d", "{out: 5, kernel: [3, 2], stride: [1, 2], padding: [2, 1], dilation: [2, 1], bias: false}",
     with_params(nn.Conv2d(3, 5, (3, 2), (1, 2), (2, 1), (2, 1), bias=False)), rnd(2, 3, 7, 9))
case("conv_1x1", "conv2d", "{out: 6, kernel: 1}", with_params(nn.Conv2d(4, 6, 1)), rnd(3, 4, 5, 5))
case("convt", "conv_transpose2d", "{out: 3, kernel: 3, stride: 2, padding: 1, output_padding: 1}",
     with_params(nn.ConvTranspose2d(4, 3, 3, 2, 1, 1)), rnd(2, 4, 4, 5))
case("convt2", "conv_transpose2d", "{out: 2, kernel: 2, stride: 2, bias: false}",
     with_params(nn.ConvTranspose2d(3, 2, 2, 2, bias=False)), rnd(2, 3, 3, 3))
bn = nn.BatchNorm2d(4)
with torch.no_grad():
    bn.weight.copy_(rnd(4)); bn.bias.copy_(rnd(4)); bn.running_mean.copy_(rnd(4)); bn.running_var.copy_(rnd(4).abs() + 0.5)
case("bn_train", "batchnorm2d", "{}", bn, rnd(3, 4, 5, 6) * 2 + 1)
bn2 = nn.BatchNorm2d(4, eps=1e-3, momentum=0.3)
with torch.no_grad():
    bn2.weight.copy_(rnd(4)); bn2.bias.copy_(rnd(4)); bn2.running_mean.copy_(rnd(4)); bn2.running_var.copy_(rnd(4).abs() + 0.5)
case("bn_eval", "batchnorm2d", "{eps: 0.001, momentum: 0.3}", bn2, rnd(3, 4, 5, 6), train=False)
bn1 = nn.BatchNorm1d(5)
with torch.no_grad():
    bn1.weight.copy_(rnd(5)); bn1.bias.copy_(rnd(5))
case("bn1d", "batchnorm1d", "{}", bn1, rnd(6, 5))
case("maxpool", "maxpool2d", "{kernel: 3, stride: 2, padding: 1}", nn.MaxPool2d(3, 2, 1), rnd(2, 3, 9, 8))
case("maxpool2", "maxpool2d", "{kernel: 2}", nn.MaxPool2d(2), rnd(2, 3, 7, 6))
case("avgpool", "avgpool2d", "{kernel: 3, stride: 2, padding: 1}", nn.AvgPool2d(3, 2, 1), rnd(2, 3, 9, 8))
case("avgpool_nopad", "avgpool2d", "{kernel: 3, stride: 2, padding: 1, count_include_pad: false}",
     nn.AvgPool2d(3, 2, 1, count_include_pad=False), rnd(2, 3, 9, 8))
case("adaptive", "adaptive_avgpool2d", "{output_size: [2, 3]}", nn.AdaptiveAvgPool2d((2, 3)), rnd(2, 3, 5, 7))
case("linear", "linear", "{out: 5}", with_params(nn.Linear(7, 5)), rnd(4, 7))
case("up_nearest", "upsample", "{scale: 2, mode: nearest}", nn.Upsample(scale_factor=2, mode="nearest"), rnd(2, 3, 4, 5))
case("up_bilinear", "upsample", "{scale: 2, mode: bilinear}",
     nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), rnd(2, 3, 4, 5))
case("up_bilinear3", "upsample", "{scale: [3, 2], mode: bilinear}",
     nn.Upsample(scale_factor=(3, 2), mode="bilinear", align_corners=False), rnd(1, 2, 3, 4))
case("leaky", "leaky_relu", "{negative_slope: 0.1}", nn.LeakyReLU(0.1), rnd(2, 3, 4, 4))
case("sigmoid", "sigmoid", "{}", nn.Sigmoid(), rnd(2, 3, 4, 4))
case("tanh", "tanh", "{}", nn.Tanh(), rnd(2, 3, 4, 4))
case("concat", "concat", "{}", Cat(), rnd(2, 3, 4, 4), extra_inputs=[rnd(2, 2, 4, 4)])
case("add", "add", "{}", Add(), rnd(2, 3, 4, 4), extra_inputs=[rnd(2, 3, 4, 4)])
st_write.save(os.path.join(OUT, "core_layers.safetensors"), layers, meta)


from formula_models import CifarResNet, formula_fill, formula_input  # noqa: E402


def names_shapes(model, prefix, out, m):
    names = []
    for k, v in model.state_dict().items():
        names.append("%s:%s" % (k, ",".join(str(d) for d in v.shape)))
    m[prefix + ".names"] = ";".join(names)
    m[prefix + ".params"] = str(sum(p.numel() for p in model.parameters()))


def forward_backward(model, x, prefix, out, train=True, grads=True,
                     full=("conv1.weight", "fc.weight", "fc.bias", "layer1.0.bn1.weight", "layer3.0.conv1.weight")):
    """References in float64 (the exact answer float32 implementations
    approximate; stored as F64). The model is converted in place."""
    model.double()
    model.train(train)
    xx = x.double()
    y = model(xx)
    r = formula_input(tuple(y.shape), 0.3).double()
    out[prefix + ".logits"] = y.detach().numpy()
    if grads:
        model.zero_grad()
        (y * r).sum().backward()
        sums, norms, names = [], [], []
        for k, p in model.named_parameters():
            names.append(k)
            sums.append(p.grad.double().sum().item())
            norms.append(p.grad.double().norm().item())
        out[prefix + ".grad_sum"] = np.array(sums)
        out[prefix + ".grad_norm"] = np.array(norms)
        for k in full:
            out[prefix + ".grad." + k] = dict(model.named_parameters())[k].grad.numpy().astype(np.float32)
    if train:
        for k, v in model.named_buffers():
            if k.endswith("running_mean") or k.endswith("running_var"):
                out[prefix + ".after." + k] = v.numpy().astype(np.float32)


def kink_margin(model, x, train):
    """Smallest |ReLU input| and smallest gap between the two largest values
    of a max-pool window, relative to the tensor's standard deviation: values this close to a kink may fall on the other
    side in another (equally correct) float32 summation order, so fixtures
    are chosen to keep them away (rounding differences are ~1e-6)."""
    m = [float("inf")]

    def relu_hook(mod, inp):
        v = inp[0].detach()
        m[0] = min(m[0], (v.abs().min() / (v.std() + 1e-30)).item())

    def pool_hook(mod, inp):
        t = F.pad(inp[0].detach(), (1, 1, 1, 1), value=-1e30)
        u = t.unfold(2, 3, 2).unfold(3, 3, 2).reshape(*t.shape[:2], -1, 9)
        top = u.topk(2, dim=-1).values
        m[0] = min(m[0], ((top[..., 0] - top[..., 1]).min() / (inp[0].std() + 1e-30)).item())

    hs = []
    for mod in model.modules():
        if isinstance(mod, nn.ReLU):
            hs.append(mod.register_forward_pre_hook(relu_hook))
        if isinstance(mod, nn.MaxPool2d):
            hs.append(mod.register_forward_pre_hook(pool_hook))
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    model.train(train)
    with torch.no_grad():
        model(x)
    model.load_state_dict(saved)  # undo the running-statistics update
    for h in hs:
        h.remove()
    return m[0]


def pick_input(model, shape, train, margin):
    for k in range(200):
        a = 0.7 + 0.0123 * k
        x = formula_input(shape, a)
        km = kink_margin(model, x, train)
        if km >= margin:
            return a, x
    raise SystemExit("no input with kink margin %g found" % margin)


zoo, zmeta = {}, {}
for option in ["A", "B"]:
    net = CifarResNet(3, option)
    formula_fill(net)
    names_shapes(net, "resnet20" + option, zoo, zmeta)
    a, x = pick_input(net, (4, 3, 16, 16), True, 2e-5)
    zmeta["resnet20%s.input" % option] = repr(a)
    forward_backward(net, x, "resnet20" + option, zoo, train=True)
    forward_backward(net, x, "resnet20%s_eval" % option, zoo, train=False, grads=False)
for depth in [32, 44, 56, 110]:
    zmeta["resnet%d.params" % depth] = str(sum(p.numel() for p in CifarResNet((depth - 2) // 6).parameters()))

for arch in ["resnet18", "resnet34", "resnet50"]:
    net = getattr(torchvision.models, arch)()
    names_shapes(net, arch, zoo, zmeta)
net = torchvision.models.resnet18()
formula_fill(net)
a, x = pick_input(net, (2, 3, 32, 32), False, 1e-5)
zmeta["resnet18_eval.input"] = repr(a)
forward_backward(net, x, "resnet18_eval", zoo, train=False, grads=True,
                 full=("conv1.weight", "fc.bias", "layer4.1.bn2.weight"))
st_write.save(os.path.join(OUT, "core_zoo.safetensors"), zoo, zmeta)


# ---------------------------------------------------------------- optimizers
def quad_grad(p, a, b):
    return a * p + b


opt_out, opt_meta = {}, {}
W0 = formula_input((3, 4), 0.9)
B0 = formula_input((3,), 1.3)
A_W, A_B = formula_input((3, 4), 0.5).abs() + 0.1, formula_input((3,), 0.45).abs() + 0.1
C_W, C_B = formula_input((3, 4), 0.23), formula_input((3,), 0.61)
cases = [
    ("sgd", "{sgd: {lr: 0.1}}", lambda ps: torch.optim.SGD(ps, lr=0.1), True),
    ("sgd_mom", "{sgd: {lr: 0.1, momentum: 0.9, dampening: 0.1, weight_decay: 0.01}}",
     lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01), True),
    ("sgd_nesterov", "{sgd: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.001}}",
     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.001), True),
    ("adam", "{adam: {lr: 0.01, weight_decay: 0.01}}", lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.01), True),
    ("adam_ams", "{adam: {lr: 0.02, betas: [0.8, 0.99], amsgrad: true}}",
     lambda ps: torch.optim.Adam(ps, lr=0.02, betas=(0.8, 0.99), amsgrad=True), True),
    ("adamw", "{adamw: {lr: 0.01, weight_decay: 0.1}}", lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1), True),
    ("adamw_nodecay", "{adamw: {lr: 0.01, weight_decay: 0.1, decay_norm_and_bias: false}}",
     lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1), False),
    ("rmsprop", "{rmsprop: {lr: 0.01}}", lambda ps: torch.optim.RMSprop(ps, lr=0.01), True),
    ("rmsprop_c", "{rmsprop: {lr: 0.01, alpha: 0.9, momentum: 0.9, centered: true, weight_decay: 0.01}}",
     lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, momentum=0.9, centered=True, weight_decay=0.01), True),
]
for name, spec, make, decay_bias in cases:
    w = W0.clone().requires_grad_(True)
    b = B0.clone().requires_grad_(True)
    if decay_bias:
        opt = make([w, b])
    else:
        opt = make([{"params": [w]}, {"params": [b], "weight_decay": 0.0}])
    ws, bs = [], []
    for step in range(10):
        with torch.no_grad():
            w.grad = quad_grad(w, A_W, C_W)
            b.grad = quad_grad(b, A_B, C_B)
        opt.step()
        ws.append(w.detach().numpy().copy())
        bs.append(b.detach().numpy().copy())
    opt_meta["optim." + name] = spec
    opt_out["optim.%s.w" % name] = np.stack(ws)
    opt_out["optim.%s.b" % name] = np.stack(bs)
for k, v in {"w0": W0, "b0": B0, "aw": A_W, "ab": A_B, "cw": C_W, "cb": C_B}.items():
    opt_out["optim." + k] = v.numpy()

# (the schedulers' fixture is written by make_sched.py)
st_write.save(os.path.join(OUT, "core_optim.safetensors"), opt_out, opt_meta)
for f in sorted(os.listdir(OUT)):
    if f.startswith("core_"):
        print(f, os.path.getsize(os.path.join(OUT, f)))
