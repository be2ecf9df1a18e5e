#!/usr/bin/python3
"""torch-first-epoch.py — one epoch of configs/resnet-cifar100.yaml's network in PyTorch, on
CIFAR-10, to compare the start of a learning curve with ours. A check, not part of the product.

    /usr/bin/python3 scripts/torch-first-epoch.py [--lr 0.1] [--data ../shared/data] [--steps N]

The network is tests/fixtures/model/torchnet.py's twin of core/model_build.c (the one the model
tests check ours against), with the recipe's stages, initialised as DESIGN.md says (Kaiming
normal fan_out for convolutions, PyTorch's default for the linear layer). Training follows the
recipe: batch 256, SGD momentum 0.9, weight decay 1e-5, constant lr, random crop (pad 4, zeros)
and flip, the recipe's normalization. The crop and flip are drawn per image from numpy, not from
our (seed, epoch, index) rule, so compare curves, not digits. Prints the epoch's mean training
loss and accuracy and the accuracy on the test file, as `shortcut train` does for epoch 1:

    build/shortcut train configs/resnet-cifar100.yaml --set data.dataset=cifar10 \\
      --set train.epochs=1 [--set train.lr=0.01]
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "fixtures", "model"))
import torchnet  # noqa: E402

RECIPE = dict(block="basic", stem_width=32, stem_kernel=3, stem_stride=1, stem_maxpool=False,
              stem_dropout2d=0.02, relu_after_add=False, head="max4", dropout=0.0,
              shortcut="conv3x3", stages=[(2, 32, 1), (4, 64, 2), (4, 128, 2), (2, 256, 2)])
MEAN = [0.4914, 0.4822, 0.4465]
STD = [0.2470, 0.2435, 0.2616]


def load(path):
    if not os.path.exists(path):
        sys.exit(f"torch-first-epoch: {path} is missing (pass --data DIR, the folder that holds "
                 "cifar-10-batches-bin)")
    a = np.fromfile(path, np.uint8).reshape(-1, 3073)
    return a[:, 1:].reshape(-1, 3, 32, 32), a[:, 0].astype(np.int64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--data", default=os.environ.get("SHORTCUT_DATA", "../shared/data"))
    ap.add_argument("--steps", type=int, default=0, help="stop after N steps (0: the epoch)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.manual_seed(0)
    rs = np.random.RandomState(0)
    torch.set_num_threads(args.threads)
    d = os.path.join(args.data, "cifar-10-batches-bin")
    parts = [load(os.path.join(d, f"data_batch_{i}.bin")) for i in range(1, 6)]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    xt, yt = load(os.path.join(d, "test_batch.bin"))
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)

    def norm(a):
        return (torch.from_numpy(np.ascontiguousarray(a)).float() / 255 - mean) / std

    net = torchnet.Net(torchnet.expand("custom", custom=RECIPE, num_classes=10))
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-5)
    batch = 256
    perm = rs.permutation(len(x))
    padded = np.pad(x, ((0, 0), (0, 0), (4, 4), (4, 4)))
    t0 = time.time()
    loss_sum = correct = seen = 0
    for step, i in enumerate(range(0, len(x) - batch + 1, batch)):
        if args.steps and step >= args.steps:
            break
        idx = perm[i:i + batch]
        oy, ox = rs.randint(0, 9, batch), rs.randint(0, 9, batch)
        flip = rs.rand(batch) < 0.5
        xb = np.stack([padded[k, :, a:a + 32, b:b + 32] for k, a, b in zip(idx, oy, ox)])
        xb[flip] = xb[flip][:, :, :, ::-1]
        xb, yb = norm(xb), torch.from_numpy(y[idx])
        out = net(xb)
        loss = F.cross_entropy(out, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_sum += loss.item() * batch
        correct += (out.argmax(1) == yb).sum().item()
        seen += batch
        if step % 20 == 0:
            print(f"step {step}: loss {loss.item():.4f}", flush=True)
    net.eval()
    with torch.no_grad():
        acc = (net(norm(xt)).argmax(1) == torch.from_numpy(yt)).float().mean().item()
    print(f"lr {args.lr}: {seen // batch} steps, train loss {loss_sum / seen:.4f} acc "
          f"{100 * correct / seen:.2f}%, test acc {100 * acc:.2f}% ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
