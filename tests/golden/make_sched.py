#!/usr/bin/env python3
"""Golden fixture for the LR schedulers: data/sched.safetensors.

For every case, the learning rate of each of E = 30 epochs under
torch.optim.lr_scheduler (1.13), starting from SGD lr 0.1, and the runpipe
spec that must reproduce it (metadata "sched.<case>"). Fractional schedule
points ("80%" of the epochs) are written as runpipe specs next to the PyTorch
scheduler built with the number they stand for; plain numbers keep PyTorch's
meaning (cosine T_max 1 = one epoch, 2.5 = 2.5 epochs).
ReduceLROnPlateau is fed the fixed sequence "sched.metric".

    /usr/bin/python3 tests/golden/make_sched.py
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_write  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
L = torch.optim.lr_scheduler
E = 30
metric = [1.0 / (1 + e) if e < 6 else 0.2 + 0.001 * (e % 3) for e in range(E)]
scheds = [
    ("step", "{step: {step_size: 7, gamma: 0.5}}", lambda o: L.StepLR(o, 7, 0.5)),
    ("step_pct", "{step: {step_size: '20%', gamma: 0.5}}", lambda o: L.StepLR(o, 6, 0.5)),
    ("multistep", "{multistep: {milestones: [5, 12, 12], gamma: 0.1}}",
     lambda o: L.MultiStepLR(o, [5, 12, 12], 0.1)),
    # S3: x0.1 after 80 % of 30 epochs
    ("multistep_pct", "{multistep: {milestones: ['80%'], gamma: 0.1}}", lambda o: L.MultiStepLR(o, [24], 0.1)),
    ("multistep_mixed", "{multistep: {milestones: [3, '50%', '90%'], gamma: 0.5}}",
     lambda o: L.MultiStepLR(o, [3, 15, 27], 0.5)),
    ("exponential", "{exponential: {gamma: 0.9}}", lambda o: L.ExponentialLR(o, 0.9)),
    ("cosine", "{cosine: {T_max: 10, eta_min: 0.001}}", lambda o: L.CosineAnnealingLR(o, 10, 0.001)),
    ("cosine_pct", "{cosine: {T_max: '50%'}}", lambda o: L.CosineAnnealingLR(o, 15)),
    ("cosine_whole", "{cosine: {T_max: '100%'}}", lambda o: L.CosineAnnealingLR(o, 30)),
    # PyTorch's meaning of small and non-integer numbers
    ("cosine_one", "{cosine: {T_max: 1}}", lambda o: L.CosineAnnealingLR(o, 1)),
    ("cosine_2p5", "{cosine: {T_max: 2.5}}", lambda o: L.CosineAnnealingLR(o, 2.5)),
    ("cosine_pct_frac", "{cosine: {T_max: '25%', eta_min: 0.01}}", lambda o: L.CosineAnnealingLR(o, 7.5, 0.01)),
    ("cosine_warm_restarts", "{cosine_warm_restarts: {T_0: 4, T_mult: 2, eta_min: 0.01}}",
     lambda o: L.CosineAnnealingWarmRestarts(o, 4, 2, 0.01)),
    ("cosine_warm_restarts_pct", "{cosine_warm_restarts: {T_0: '10%', T_mult: 2}}",
     lambda o: L.CosineAnnealingWarmRestarts(o, 3, 2)),
    ("linear_warmup", "{linear_warmup: {start_factor: 0.25, total_iters: 6}}",
     lambda o: L.LinearLR(o, 0.25, 1.0, 6)),
    ("linear_warmup_pct", "{linear_warmup: {start_factor: 0.25, total_iters: '10%'}}",
     lambda o: L.LinearLR(o, 0.25, 1.0, 3)),
    ("reduce_on_plateau", "{reduce_on_plateau: {patience: 2, factor: 0.5, cooldown: 1, threshold: 0.01}}",
     lambda o: L.ReduceLROnPlateau(o, patience=2, factor=0.5, cooldown=1, threshold=0.01)),
]
out, meta = {}, {}
for name, spec, make in scheds:
    p = torch.zeros(1, requires_grad=True)
    o = torch.optim.SGD([p], lr=0.1)
    s = make(o)
    lrs = []
    for e in range(E):
        lrs.append(o.param_groups[0]["lr"])
        o.step()
        if name == "reduce_on_plateau":
            s.step(metric[e])
        else:
            s.step()
    meta["sched." + name] = spec
    out["sched.%s.lr" % name] = np.array(lrs, dtype=np.float64)
out["sched.metric"] = np.array(metric, dtype=np.float64)
meta["sched.epochs"] = str(E)
path = os.path.join(OUT, "sched.safetensors")
st_write.save(path, out, meta)
print(path, os.path.getsize(path))
