#!/usr/bin/env python
"""Label issues and duplicates found in real photos with planted mistakes, and what dropping them is worth.

Fashion-MNIST photos (Debian's `dataset-fashion-mnist`), a fraction of the training labels moved to
another class at random, and copies planted (exact, re-encoded, resized, cropped by 3%, brightened by
10%; half of them across the split). For each fraction it prints the precision and recall of
`find_label_issues` (MobileNetV2 ImageNet features, 5-fold probes; its default count, the mixture, and
cleanlab's confident learning) against the moved files,
the recall of `find_duplicates` on the planted copies and whether each cross-split copy was called a
leak, and the validation accuracy of `transferlab train` (every default, the validation set untouched)
with every training image against without the flagged ones. It also prints the seconds of each step
(features, probes, flagging, duplicates) and the peak resident memory of the whole run.

At scale (item 4 of the issue: all 70,000 photos, training skipped):
    python bench/data_issues.py --n-per-class 6000 --size 28 --fracs 0.05 --no-train

Usage: python bench/data_issues.py [--fracs 0.02,0.05,0.1] [--n-per-class 300] [--size 64] [--feature-size 128] [--epochs 4] [--no-train]
"""
import argparse, json, os, resource, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np

def flip(folder:Path, frac:float, seed:int) -> set:
    rng, moved = np.random.default_rng(seed), set()
    classes = sorted(p.name for p in (folder/'train').iterdir())
    files = sorted((folder/'train').rglob('*.jpg'))
    for f in rng.choice(files, int(frac*len(files)), replace=False):
        to = folder/'train'/rng.choice([c for c in classes if c != f.parent.name])/f.name
        f.rename(to); moved.add(str(to))
    return moved

def plant(folder:Path, n:int=10) -> list:
    from PIL import Image, ImageEnhance
    files, out = sorted((folder/'train').rglob('*.jpg')), []
    for k, f in enumerate(files[::max(1, len(files)//n)][:n]):
        how, side = ['exact', 'jpeg', 'resized', 'cropped', 'brighter'][k % 5], ['train', 'valid'][k % 2]
        im = Image.open(f).convert('RGB'); w, h = im.size
        im = dict(exact=im, jpeg=im, resized=im.resize((w*7//8, h*7//8)).resize((w, h)), cropped=im.crop((1, 1, w - 1, h - 1)).resize((w, h)),
                  brighter=ImageEnhance.Brightness(im).enhance(1.1))[how]
        to = folder/side/f.parent.name/f"copy-{how}-{f.name}"
        if how == 'exact': shutil.copy(f, to)
        else: im.save(to, quality=70 if how == 'jpeg' else 90)
        out.append((str(f), str(to), side == 'valid'))
    return out

def train_acc(data:Path, out:Path, a) -> float:
    exe = Path(sys.executable).parent/'transferlab'
    r = subprocess.run([str(exe), 'train', str(data), '--arch', 'mobilenet_v2', '--size', str(a.size), '--epochs', str(a.epochs), '--out', str(out),
                        '--no-report'], capture_output=True, text=True)
    if r.returncode: sys.exit(f"train failed:\n{r.stderr[-3000:]}")
    return json.loads((out/'result.json').read_text())['adjusted']['after']['accuracy']

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--fracs', default='0.02,0.05,0.1'); ap.add_argument('--n-per-class', type=int, default=300)
    ap.add_argument('--size', type=int, default=64); ap.add_argument('--feature-size', type=int, default=128)
    ap.add_argument('--epochs', type=int, default=4); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--no-train', action='store_true', help='skip the two training runs (accuracy with and without the flagged images)')
    a = ap.parse_args()
    from transferlab.datasets import fashion_mnist
    from transferlab.issues import dataset_features, find_label_issues, find_duplicates, oos_probs
    src = fashion_mnist(n_per_class=a.n_per_class, size=a.size)
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, cwd=os.path.dirname(__file__)).stdout.strip()
    print(f"Fashion-MNIST, {a.n_per_class} photos per class, {a.size} px (features at {a.feature_size}), {os.cpu_count()} CPU cores, commit {commit or '?'}")
    print(f"{'flipped':>8}{'flagged':>9}{'precision':>11}{'recall':>8}{'CL flagged':>12}{'CL prec':>9}{'CL recall':>11}"
          f"{'dup recall':>12}{'leaks ok':>10}{'acc with':>10}{'acc without':>13}{'seconds':>9}")
    with tempfile.TemporaryDirectory(prefix='bench-issues-') as tmp:
        os.environ['TMPDIR'] = tmp
        for frac in [float(v) for v in a.fracs.split(',')]:
            t0, d, secs = time.perf_counter(), Path(tmp)/f'flip{frac}', {}
            shutil.copytree(src, d/'all')
            moved, copies = flip(d/'all', frac, a.seed), plant(d/'all')
            def timed(step, f, *args, **kw):
                t = time.perf_counter(); r = f(*args, **kw); secs[step] = secs.get(step, 0) + time.perf_counter() - t; return r
            feats = timed('features', dataset_features, d/'all', size=a.feature_size)
            probs = timed('probes', oos_probs, feats['features'], feats['targets'])   # once, for both ways of counting
            found = timed('flagging', find_label_issues, feats, probs=probs)
            hit = set(found.path) & moved
            cl = timed('flagging', find_label_issues, feats, method='confident_learning', probs=probs); cl_hit = set(cl.path) & moved
            dups = timed('duplicates', find_duplicates, feats)
            pairs = {frozenset((x, y)): leak for x, y, leak in zip(dups.a, dups.b, dups.leak)}
            dup_recall = np.mean([frozenset(c[:2]) in pairs for c in copies])
            leaks_ok = all(pairs.get(frozenset(c[:2])) == c[2] for c in copies if frozenset(c[:2]) in pairs)
            with_ = without = float('nan')
            if not a.no_train:
                shutil.copytree(d/'all', d/'clean')
                for p in found[~found.valid].path: (d/'clean'/Path(p).relative_to(d/'all')).unlink()
                with_, without = train_acc(d/'all', d/'run-all', a), train_acc(d/'clean', d/'run-clean', a)
            print(f"{len(moved):>8}{len(found):>9}{len(hit)/max(len(found), 1):>11.2f}{len(hit)/max(len(moved), 1):>8.2f}"
                  f"{len(cl):>12}{len(cl_hit)/max(len(cl), 1):>9.2f}{len(cl_hit)/max(len(moved), 1):>11.2f}{dup_recall:>12.2f}"
                  f"{str(leaks_ok):>10}{with_:>10.4f}{without:>13.4f}{time.perf_counter() - t0:>9.0f}", flush=True)
            print(f"{'':>8}{len(feats['paths']):,} images, {feats['features'].shape[1]} features each; seconds: "
                  + ', '.join(f"{k} {v:.0f}" for k, v in secs.items()) + f"; {len(dups)} duplicate pairs", flush=True)
            shutil.rmtree(d)
    print(f"peak resident memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/2**20:.1f} GB"
          " (the training runs are other processes)")

if __name__ == '__main__': main()
