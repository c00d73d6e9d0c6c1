#!/usr/bin/env python
"""Inference speed of one exported classifier, side by side: PyTorch eager (fp32 and bf16 autocast) against
ONNX Runtime, images per second at batch 1 and batch 32, on this machine's CPU (or the GPU for PyTorch).

The model is MobileNetV2 with its ImageNet body (offline weights) and a 10-class head, at `--size`; every
engine runs the same `Deployable` graph (uint8 in, preprocessing and softmax inside), warmed up first, and
the timings interleave so that a noisy machine hurts all engines alike.

Usage: python bench/inference.py [--size 224] [--repeats 5]
"""
import argparse, atexit, os, shutil, statistics, tempfile, time, warnings
from pathlib import Path

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--size', type=int, default=224); ap.add_argument('--repeats', type=int, default=5)
    a = ap.parse_args()
    warnings.filterwarnings('ignore')
    import numpy as np, torch
    from transferlab.datasets import fashion_mnist
    from transferlab.data import folder_dls
    from transferlab.train import make_learner
    from transferlab.export import Deployable, export_model
    from transferlab.runtime import ExportedModel
    dls = folder_dls(fashion_mnist(n_per_class=10, size=a.size), valid_name='valid', size=a.size, bs=8, num_workers=0, aug='none')
    learn = make_learner(dls, 'mobilenet_v2', precision='fp32', channels_last=False)
    d = Path(tempfile.mkdtemp()); atexit.register(shutil.rmtree, d, True)   # the exported model goes when the script ends
    onnx = ExportedModel(export_model(learn, d/'m.onnx'))
    dep = Deployable(learn).eval()
    engines = {'PyTorch eager fp32': lambda x: dep(torch.from_numpy(x)),
               'PyTorch eager bf16': lambda x: _bf16(dep, torch.from_numpy(x)),
               'ONNX Runtime (CPU)': lambda x: onnx.session.run(None, {'images': x})[0]}
    rng = np.random.default_rng(0)
    p = onnx.presize
    rows = {}
    for bs in (1, 32):
        x = rng.integers(0, 256, (bs, *p, 3), dtype=np.uint8)
        times = {k: [] for k in engines}
        with torch.no_grad():
            for f in engines.values(): f(x)   # warm-up
            for _ in range(a.repeats):
                for k, f in engines.items():
                    t = time.perf_counter(); f(x); times[k].append(time.perf_counter() - t)
        for k, ts in times.items(): rows.setdefault(k, {})[bs] = bs/statistics.median(ts)
    print(f"MobileNetV2 (10 classes) at {a.size} px, presize {p[0]}, {os.cpu_count()} CPU cores, torch {torch.__version__}; "
          f"median of {a.repeats} runs")
    base = rows['PyTorch eager fp32']
    print(f"{'engine':<22}{'img/s bs 1':>12}{'img/s bs 32':>13}{'vs fp32 bs 1':>14}{'vs fp32 bs 32':>15}")
    for k, r in rows.items(): print(f"{k:<22}{r[1]:>12.1f}{r[32]:>13.1f}{r[1]/base[1]:>14.2f}{r[32]/base[32]:>15.2f}")

def _bf16(dep, x):
    import torch
    with torch.autocast('cpu', dtype=torch.bfloat16): return dep(x)

if __name__ == '__main__': main()
