#!/usr/bin/env python
"""Does the cost per image stay the same as the data grows? Every stage a user runs, at several sizes, side by side.

Images: Fashion-MNIST's real photos from Debian's `dataset-fashion-mnist` (all 70,000 at the largest size),
saved as 28-px JPEGs by `transferlab.datasets.fashion_mnist` in `train/<class>/` and `valid/<class>/`, so
decoding and per-file overhead are timed, not a model. Labels: generated rows of noisy free-text tags
(up to 1,000,000), each naming an image file (hard links to a few JPEGs: `prepare_csv` checks every file).

Stages, each timed in a fresh process (so one stage's caches and memory do not help the next):

- `audit`: `audit(folder)` (every file opened and decoded);
- `floor`: the PIL decode-and-resize floor on all cores (a process pool that opens, converts, resizes and
  keeps nothing, forked from a process that has imported fastai, as the cache's builder is, with PIL's own
  `Image.size` as the builder's workers have it): what a cold cache build cannot beat;
- `cache_build`: `DecodedCache(files, 28).open()` from nothing;
- `folder_dls_cold` / `folder_dls_warm`: `folder_dls(folder, valid_name='valid')` with no cache, then with it;
- `csv_dls_cold` / `csv_dls_warm`: `csv_dls` over a CSV listing the same images (`valid_col`);
- `epoch`: one pass over the training DataLoader of a warm `folder_dls` (no model);
- `predict`: `load_classifier` + `predict_csv` over every image (a `mobilenet_v3_small` at 28 px);
- `evaluate`: `evaluate(learn, folder)` over every image;
- `labels`: `prepare_csv` with a `TagGrouper` + `iterative_split` of the rows.

Printed per stage and size: seconds, milliseconds per 1,000 items, peak extra memory while the stage ran
(anonymous memory: pages of the memory-mapped cache are file-backed and not counted, a full copy would
be), and the ratio of the per-item cost at the largest size to that at the smallest (≤ 1.3 is linear
enough; I/O-bound stages may get cheaper per item). Everything is written under one temporary folder,
removed at the end (`--keep` keeps it).

Usage: python bench/scale.py [--sizes 1000 10000 70000] [--rows 1000 10000 100000 1000000] [--stages audit floor ...]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, threading, time
from pathlib import Path

IMAGE_STAGES = ('audit', 'floor', 'cache_build', 'folder_dls_cold', 'folder_dls_warm', 'csv_dls_cold', 'csv_dls_warm',
                'epoch', 'predict', 'evaluate')
SIZE = 28   # the photos' own size: no resampling cost hides the per-file overhead

# --- measuring one stage (in a child process) ---

def _status() -> dict:
    "This process's resident memory from /proc (kB): all of it, and the anonymous part (not file-backed pages)."
    out = {}
    for line in Path('/proc/self/status').read_text().splitlines():
        k, _, v = line.partition(':')
        if k in ('VmRSS', 'RssAnon'): out[k] = int(v.split()[0])*1024
    return out

class PeakMemory:
    "Sample /proc/self/status every few milliseconds: the peak anonymous memory above the level at the start."
    def __enter__(self):
        self.base, self.peak, self._stop = _status(), {}, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True); self._t.start()
        return self
    def _run(self):
        while not self._stop.wait(0.005):
            for k, v in _status().items(): self.peak[k] = max(self.peak.get(k, 0), v)
    def __exit__(self, *exc):
        self._stop.set(); self._t.join()
        for k, v in _status().items(): self.peak[k] = max(self.peak.get(k, 0), v)
        self.extra = {k: self.peak[k] - self.base[k] for k in self.base}

def _decode_floor(files):
    "Worker of the floor: open, convert and resize each file, keeping nothing."
    from PIL import Image
    for f in files:
        with Image.open(f) as im: im.convert('RGB').resize((SIZE, SIZE), Image.BILINEAR).tobytes()
    return len(files)

def run_stage(stage:str, a) -> dict:
    "Set up (untimed), then time `stage` once, with its peak memory."
    import warnings; warnings.filterwarnings('ignore')
    from transferlab.images import image_files
    data, work = Path(a.data), Path(a.work)
    run, n = None, None
    if stage == 'audit':
        from transferlab.data import audit
        n = len(image_files(data)); run = lambda: audit(data, show=False)
    elif stage == 'floor':
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        from transferlab.cache import _plain_pil   # the builder's process: fastai imported; its workers: PIL as shipped
        files = [str(f) for f in image_files(data)]; n = len(files)
        chunks = [files[i:i + 256] for i in range(0, n, 256)]
        cores = len(os.sched_getaffinity(0))
        def run():
            with ProcessPoolExecutor(cores, mp_context=mp.get_context('fork'), initializer=_plain_pil) as ex:
                return sum(ex.map(_decode_floor, chunks))
    elif stage == 'cache_build':
        from transferlab.cache import DecodedCache
        files = image_files(data); n = len(files)
        shutil.rmtree(work/'caches', ignore_errors=True)
        run = lambda: DecodedCache(files, SIZE, path=work/'caches', verbose=False).open()
    elif stage.startswith(('folder_dls', 'csv_dls', 'epoch')):
        from transferlab.data import folder_dls, csv_dls
        from transferlab.cache import cache_home
        if stage.endswith('_cold'): shutil.rmtree(cache_home(), ignore_errors=True)
        n = len(image_files(data))
        opts = dict(size=SIZE, bs=256, aug='none', num_workers=0)
        build = (lambda: csv_dls(work/'labels.csv', img_dir=data, fn_col='ImageID', label_col='Label', valid_col='is_valid', **opts)) \
                if stage.startswith('csv') else (lambda: folder_dls(data, valid_name='valid', **opts))
        if stage == 'epoch':
            dls = build(); n = len(dls.train_ds)
            def run():
                for _ in dls.train: pass
        else: run = build
    elif stage in ('predict', 'evaluate'):
        from transferlab.persist import load_classifier
        from transferlab.predict import predict_csv
        from transferlab.evaluate import evaluate
        files = image_files(data); n = len(files)
        learn = load_classifier(work/'model'/'model', bs=256)
        out = work/'preds.csv'
        run = (lambda: predict_csv(learn, files, out)) if stage == 'predict' else (lambda: evaluate(learn, data))
    elif stage == 'labels':
        from transferlab.data import prepare_csv, iterative_split
        from transferlab.labels import TagGrouper
        n = a.n
        def run():
            items = prepare_csv(work/f'tags{n}.csv', img_dir=work/'links', fn_col='ImageID', label_col='Tags',
                                tag_grouper=TagGrouper(_GROUPS, min_count=2))
            return iterative_split(items['labels'].tolist(), 0.2)
    else: raise SystemExit(f"unknown stage {stage!r}")
    with PeakMemory() as mem:
        t0 = time.perf_counter(); run(); dt = time.perf_counter() - t0
    return dict(stage=stage, n=n, seconds=dt, peak_anon=mem.extra.get('RssAnon'), peak_rss=mem.extra.get('VmRSS'))

# --- data (in the parent) ---

_GROUPS = {'top': ['top', 'tops', 't-shirt', 'tshirt', 'tee'], 'shoe': ['shoe', 'shoes', 'sneaker', 'sneakers', 'trainer'],
           'bag': ['bag', 'bags', 'handbag', 'purse'], 'dress': ['dress', 'dresses', 'gown']}

def make_images(root:Path, n:int) -> Path:
    "About `n` Fashion-MNIST photos (6/7 from the training set, 1/7 from the test set, balanced) at 28 px."
    from transferlab.datasets import fashion_mnist
    per_class = max(1, round(n/10*6/7))
    return fashion_mnist(root/f'fashion{n}', n_per_class=per_class, size=SIZE, valid_frac=1/6)

def make_csv(data:Path, out:Path):
    "The folder's images as a CSV: ImageID relative to the folder, Label, is_valid."
    import pandas as pd
    from transferlab.images import image_files
    rel = [f.relative_to(data) for f in image_files(data)]
    pd.DataFrame({'ImageID': [str(r) for r in rel], 'Label': [r.parent.name for r in rel],
                  'is_valid': [r.parts[0] == 'valid' for r in rel]}).to_csv(out, index=False)

def make_tags(work:Path, rows:int, sources:list):
    "A CSV of `rows` rows of noisy tags (variants, typos, hashtags, unrelated words), each naming a hard link to a JPEG."
    import numpy as np, pandas as pd
    rng = np.random.default_rng(0)
    words = [w for ws in _GROUPS.values() for w in ws] + [f'word{i}' for i in range(300)] + ['#instagood', 'Photo!', 'style', '2024']
    links = work/'links'
    names = [f'{i//1000}/{i}.jpg' for i in range(rows)]
    for i, name in enumerate(names):   # hard links: rows of real files without rows of disk (a file takes 65,000 links at most)
        p = links/name
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            os.link(sources[i % len(sources)], p)
    k = rng.integers(0, 5, rows)
    pick = rng.integers(0, len(words), (rows, 4))
    tags = [', '.join(words[j] for j in pick[r, :k[r]]) for r in range(rows)]
    pd.DataFrame({'ImageID': names, 'Tags': tags}).to_csv(work/f'tags{rows}.csv', index=False)

def make_model(data:Path, dest:Path):
    "An untrained mobilenet_v3_small for the folder's classes (speed does not depend on the weights)."
    from transferlab.data import folder_dls
    from transferlab.train import make_learner
    from transferlab.persist import save_classifier
    dls = folder_dls(data, valid_name='valid', size=SIZE, bs=64, aug='none', cache=False)
    learn = make_learner(dls, 'mobilenet_v3_small', pretrained=False, precision='fp32', channels_last=False, path=dest)
    dest.mkdir(parents=True, exist_ok=True)
    save_classifier(learn, dest/'model')

# --- the table ---

def _child(stage:str, **kw) -> dict:
    args = [sys.executable, __file__, '--child', stage] + [x for k, v in kw.items() for x in (f'--{k}', str(v))]
    r = subprocess.run(args, capture_output=True, text=True, env={**os.environ, 'PYTHONWARNINGS': 'ignore'})
    if r.returncode: raise SystemExit(f"stage {stage} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])

def _mb(b) -> str: return '' if b is None else f"{b/2**20:.0f}"

def report(rows:list):
    print(f"\n{'stage':<16} {'items':>9} {'s':>8} {'ms/1k':>9} {'peak MB':>8} {'MB/1k':>7}")
    for r in rows:
        print(f"{r['stage']:<16} {r['n']:>9} {r['seconds']:>8.2f} {1e6*r['seconds']/r['n']:>9.1f} {_mb(r['peak_anon']):>8} "
              f"{(r['peak_anon'] or 0)/2**20/r['n']*1000:>7.2f}")
    print(f"\n{'stage':<16} {'per-item cost, largest / smallest N':>38}")
    ratios = {}
    for stage in dict.fromkeys(r['stage'] for r in rows):
        rs = sorted((r for r in rows if r['stage'] == stage), key=lambda r: r['n'])
        if len(rs) < 2: continue
        ratios[stage] = (rs[-1]['seconds']/rs[-1]['n'])/(rs[0]['seconds']/rs[0]['n'])
        print(f"{stage:<16} {ratios[stage]:>10.2f}   ({rs[0]['n']} -> {rs[-1]['n']} items)")
    fl = {r['n']: r['seconds'] for r in rows if r['stage'] == 'floor'}
    builds = [r for r in rows if r['stage'] == 'cache_build' and r['n'] in fl]
    if builds:
        print(f"\ncold cache build / PIL decode-and-resize floor on {len(os.sched_getaffinity(0))} cores: " +
              ', '.join(f"{r['seconds']/fl[r['n']]:.2f} at {r['n']}" for r in builds))
    warm = sorted((r for r in rows if r['stage'] == 'folder_dls_warm'), key=lambda r: r['n'])
    if len(warm) > 1:
        extra = (warm[-1]['peak_anon'] - warm[0]['peak_anon'])/(warm[-1]['n'] - warm[0]['n'])
        print(f"warm folder_dls memory: {_mb(warm[0]['peak_anon'])} MB at {warm[0]['n']} images, {_mb(warm[-1]['peak_anon'])} MB at "
              f"{warm[-1]['n']}: {extra:.0f} bytes per extra image (its {SIZE}x{SIZE} pixels: {SIZE*SIZE*3} bytes, mapped, not copied)")
    return ratios

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--sizes', type=int, nargs='+', default=[1000, 10000, 70000])
    p.add_argument('--rows', type=int, nargs='+', default=[1000, 10000, 100000, 1000000])
    p.add_argument('--stages', nargs='+', default=[*IMAGE_STAGES, 'labels'])
    p.add_argument('--keep', action='store_true', help='keep the temporary folder (data, caches, model)')
    p.add_argument('--child'); p.add_argument('--data'); p.add_argument('--work'); p.add_argument('--n', type=int)
    a = p.parse_args()
    if a.child:
        print(json.dumps(run_stage(a.child, a))); return
    top = Path(tempfile.mkdtemp(prefix='transferlab-scale-'))
    os.environ['TRANSFERLAB_HOME'] = str(top/'home')
    rows = []
    try:
        for n in a.sizes:
            work = top/f'n{n}'; work.mkdir()
            t = time.perf_counter(); data = make_images(top, n); make_csv(data, work/'labels.csv')
            if {'predict', 'evaluate'} & set(a.stages): make_model(data, work/'model')
            print(f"{n}: data ready in {time.perf_counter() - t:.0f}s", flush=True)
            for stage in (s for s in IMAGE_STAGES if s in a.stages):
                rows.append(_child(stage, data=data, work=work))
                print(f"  {stage:<16} {rows[-1]['seconds']:8.2f}s  ({rows[-1]['n']} items)", flush=True)
            shutil.rmtree(top/'home'/'decoded', ignore_errors=True)
        if 'labels' in a.stages:
            from transferlab.images import image_files
            sources = image_files(make_images(top, min(a.sizes)))[:40]
            for n in a.rows:
                make_tags(top, n, sources)
                rows.append(_child('labels', data=top, work=top, n=n))
                print(f"  {'labels':<16} {rows[-1]['seconds']:8.2f}s  ({n} rows)", flush=True)
        report(rows)
    finally:
        if a.keep: print(f"kept {top}")
        else: shutil.rmtree(top, ignore_errors=True)

if __name__ == '__main__': main()
