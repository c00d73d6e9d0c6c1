#!/usr/bin/env python
"""fp32 against mixed precision, side by side in one run: time per epoch and final metric, as ratios.

Seed 000 measured ~60% less training time for 3 basis points of macro-F1 with fp16 on a GPU. On a GPU
this compares fp32, fp16 and bf16 (where supported); on a CPU, fp32 and bf16 (CPU autocast).
Each precision trains the same model from the same seed on the same generated data; the first epoch
is reported apart (warm-up), the rest averaged.
Usage: python bench/precision.py [--epochs 3] [--n-per-class 200] [--size 64] [--arch resnet18]
"""
import argparse, time, warnings
import torch
from fastai.torch_core import set_seed
from transferlab.datasets import shapes_folder
from transferlab.data import folder_dls
from transferlab.train import make_learner
warnings.filterwarnings('ignore')

def run(precision, args, device):
    set_seed(0, reproducible=True)
    dls = folder_dls(shapes_folder(n_per_class=args.n_per_class, size=args.size), size=args.size, bs=args.bs, num_workers=0, device=device)
    learn = make_learner(dls, args.arch, pretrained=False, freeze='full', precision=precision)
    times = []
    class Timer(__import__('fastai.callback.core', fromlist=['Callback']).Callback):
        def before_epoch(self): self.t = time.perf_counter()
        def after_epoch(self):
            if device.type == 'cuda': torch.cuda.synchronize()
            times.append(time.perf_counter() - self.t)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(args.epochs, 3e-3, cbs=Timer())
    steady = times[1:] or times
    return dict(first=times[0], epoch=sum(steady)/len(steady), acc=float(learn.recorder.values[-1][2]), loss=float(learn.recorder.values[-1][1]))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--epochs', type=int, default=3); ap.add_argument('--n-per-class', type=int, default=200)
    ap.add_argument('--size', type=int, default=64); ap.add_argument('--bs', type=int, default=64); ap.add_argument('--arch', default='resnet18')
    args = ap.parse_args()
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    precs = ['fp32', 'fp16', 'bf16'] if device.type == 'cuda' else ['fp32', 'bf16']
    if device.type == 'cuda' and not torch.cuda.is_bf16_supported(): precs.remove('bf16')
    res = {p: run(p, args, device) for p in precs}
    base = res['fp32']
    name = torch.cuda.get_device_name() if device.type == 'cuda' else f'CPU ({torch.get_num_threads()} threads)'
    print(f"{args.arch} {args.size}px, {args.n_per_class*5} images, {args.epochs} epochs on {name}")
    print(f"{'precision':<10}{'s/epoch':>9}{'time ratio':>12}{'time saved':>12}{'accuracy':>10}{'acc delta':>11}{'valid loss':>12}{'1st epoch s':>13}")
    for p, r in res.items():
        print(f"{p:<10}{r['epoch']:>9.2f}{r['epoch']/base['epoch']:>12.2f}{1 - r['epoch']/base['epoch']:>12.1%}{r['acc']:>10.3f}{r['acc'] - base['acc']:>+11.3f}{r['loss']:>12.4f}{r['first']:>13.2f}")

if __name__ == '__main__': main()
