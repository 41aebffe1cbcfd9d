#!/usr/bin/env python3
"""PGD L-inf of dpkit against the same attack in PyTorch on the same weights and inputs.

Runs `dpkit robustness` on a model.h5 trained on raw MNIST pixels (no feature normalisation),
rebuilds the model in PyTorch from the file's layer table and parameters, runs PGD from the
same test images (no random start; the cross-entropy's sign-gradient step, projection onto the
L-inf ball and [0, 1]) and prints both robust accuracies, their difference and how many inputs
the two attacks judge differently. Needs Debian's python3-torch, python3-h5py, python3-numpy.

usage: bench/pgd-torch.py MODEL.h5 [--count 1000] [--epsilon 0.3] [--steps 40] [--step 0.01]
                          [--dpkit build/dpkit] [--data data/mnist]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

try:
    import torch
except ImportError:
    sys.exit("pgd-torch: PyTorch is not installed (Debian package python3-torch)")

KINDS = {0: "linear", 1: "conv2d", 2: "tanh", 3: "relu", 4: "maxpool", 5: "avgpool",
         6: "group-norm", 7: "flatten"}


def torch_model(path):
    """The model of a dpkit model.h5 as a torch.nn.Sequential (PyTorch's layouts)."""
    with h5py.File(path, "r") as f:
        table = f["model/layers"][:]
        shape = [int(v) for v in f["model/input_shape"][:]]
        norm = f["normalizer"].attrs["kind"]
        norm = norm.decode() if isinstance(norm, bytes) else norm
        if norm != "none":
            sys.exit(f"pgd-torch: {path} normalises its features ({norm}); "
                     "this bench takes raw-pixel models only")
        tensors = {k: torch.tensor(f["model"][k][:]) for k in f["model"] if "." in k}
    layers, c, h, w = [], *shape
    for i, (kind, units, kernel, stride, padding, groups, _vocab) in enumerate(table):
        name = KINDS[int(kind)]
        if name == "linear":
            layer = torch.nn.Linear(c * h * w, int(units))
            c, h, w = int(units), 1, 1
        elif name == "conv2d":
            layer = torch.nn.Conv2d(c, int(units), int(kernel), int(stride), int(padding))
            h = (h + 2 * int(padding) - int(kernel)) // int(stride) + 1
            w = (w + 2 * int(padding) - int(kernel)) // int(stride) + 1
            c = int(units)
        elif name in ("maxpool", "avgpool"):
            pool = torch.nn.MaxPool2d if name == "maxpool" else torch.nn.AvgPool2d
            layer = pool(int(kernel), int(stride))
            h = (h - int(kernel)) // int(stride) + 1
            w = (w - int(kernel)) // int(stride) + 1
        elif name == "group-norm":
            layer = torch.nn.GroupNorm(int(groups), c, eps=1e-5, affine=False)
        elif name == "flatten":
            layer = torch.nn.Flatten()
            c, h, w = c * h * w, 1, 1
        else:
            layer = torch.nn.Tanh() if name == "tanh" else torch.nn.ReLU()
        for p in ("weight", "bias"):
            key = f"{i}.{name}.{p}"
            if key in tensors:
                getattr(layer, p).data = tensors[key].reshape(getattr(layer, p).shape)
        layers.append(layer)
    model = torch.nn.Sequential(*layers)
    model.eval()
    return model


def mnist_test(data_dir, count):
    with open(os.path.join(data_dir, "t10k-images-idx3-ubyte"), "rb") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with open(os.path.join(data_dir, "t10k-labels-idx1-ubyte"), "rb") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    x = torch.tensor(images[:count].astype(np.float32) / np.float32(255))
    return x, torch.tensor(labels[:count].astype(np.int64))


def torch_pgd(model, x, y, eps, steps, step):
    adv = x.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(adv), y, reduction="sum")
        grad, = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            adv = adv + step * grad.sign()
            adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 1)
    with torch.no_grad():
        return (model(adv).argmax(1) == y).numpy()


def main():
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("model")
    a.add_argument("--count", type=int, default=1000)
    a.add_argument("--epsilon", type=float, default=0.3)
    a.add_argument("--steps", type=int, default=40)
    a.add_argument("--step", type=float, default=0.01)
    a.add_argument("--dpkit", default="build/dpkit")
    a.add_argument("--data", default="data/mnist")
    args = a.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "pgd.yaml")
        with open(config, "w") as f:
            f.write(f"kind: robustness\nname: pgd-torch\n"
                    f"models:\n  - {{label: dpkit, model: {os.path.abspath(args.model)}}}\n"
                    f"attack: {{epsilons: \"{args.epsilon}\", steps: {args.steps}, "
                    f"step: {args.step}, figure_epsilon: {args.epsilon}}}\n"
                    f"data: {{count: {args.count}, batch: 500}}\n"
                    f"output: {{dir: {tmp}/out}}\n")
        start = time.time()
        subprocess.run([args.dpkit, "-q", "robustness", config], check=True)
        dpkit_seconds = time.time() - start
        with h5py.File(os.path.join(tmp, "out", "robustness.h5"), "r") as f:
            dpkit_ok = f["model0/robust"][0].astype(bool)
            labels = f["model0/labels"][:]
    x, y = mnist_test(args.data, args.count)
    assert (y.numpy() == labels).all(), "dpkit and this script read different labels"
    model = torch_model(args.model)
    start = time.time()
    torch_ok = torch_pgd(model, x, y, args.epsilon, args.steps, args.step)
    torch_seconds = time.time() - start
    d, t = 100 * dpkit_ok.mean(), 100 * torch_ok.mean()
    print(f"PGD L-inf eps {args.epsilon}, {args.steps} steps of {args.step}, no random start, "
          f"{args.count} MNIST test images")
    print(f"dpkit  robust accuracy {d:.2f}%  ({dpkit_seconds:.1f} s, with loading)")
    print(f"torch  robust accuracy {t:.2f}%  ({torch_seconds:.1f} s, torch {torch.__version__})")
    print(f"difference {d - t:+.2f} points; inputs judged differently: "
          f"{int((dpkit_ok != torch_ok).sum())}")


if __name__ == "__main__":
    main()
