"""Cost that grows linearly with the data, checked without a clock: the Python work a stage does on 2N items
must be about twice the work on N (counted as trace events: every line run and every call), never four times.
A quadratic step (a dict rebuilt per file, a list searched per item) fails these tests on any machine, loaded
or not. `bench/scale.py` measures the seconds at 1,000 to 70,000 images.

Also: a decoded cache is built once and then only read, so every rank, Ray worker or process on a node shares
one copy, even on a read-only filesystem."""
import os, subprocess, sys, threading
import numpy as np
import pandas as pd
import pytest
from PIL import Image

LINEAR = 2.25   # work(2N)/work(N): 2 for linear work, less with fixed costs; a quadratic step pushes it towards 4

def steps(fn) -> int:
    "Trace events (lines and calls of Python code, in every thread) while `fn()` runs."
    n = [0]
    lock = threading.Lock()
    def tracer(frame, event, arg):
        with lock: n[0] += 1
        return tracer
    threading.settrace(tracer); sys.settrace(tracer)
    try: fn()
    finally: sys.settrace(None); threading.settrace(None)
    return n[0]

def ratio(make, run, n:int) -> float:
    "work(2n)/work(n) of `run(make(k))`, with `make(k)` (untimed, untraced) preparing k items."
    a, b = make(n), make(2*n)
    run(a); run(b)   # warm: caches built, imports done
    return steps(lambda: run(b))/steps(lambda: run(a))

@pytest.fixture(scope='module')
def folders(tmp_path_factory):
    "Image folders of k tiny images in 4 classes (train/ and valid/), made on demand."
    root, made = tmp_path_factory.mktemp('scale'), {}
    def make(k):
        if k not in made:
            rng, d = np.random.default_rng(k), root/f'n{k}'
            for i in range(k):
                f = d/('valid' if i % 5 == 0 else 'train')/f'c{i % 4}'/f'{i}.png'
                f.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(f)
            made[k] = d
        return made[k]
    return make

@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch): monkeypatch.setenv('TRANSFERLAB_HOME', str(tmp_path/'home'))

def test_cache_open_is_linear(folders, tmp_path):
    from transferlab.cache import DecodedCache
    from transferlab.images import image_files
    open_ = lambda d: DecodedCache(image_files(d), 12, path=tmp_path/'c', verbose=False).open()
    assert ratio(folders, open_, 600) < LINEAR

def test_warm_folder_dls_is_linear(folders):
    from transferlab.data import folder_dls
    build = lambda d: folder_dls(d, valid_name='valid', size=12, bs=16, aug='none', num_workers=0)
    assert ratio(folders, build, 600) < LINEAR

def test_epoch_of_batches_is_linear(folders):
    from transferlab.data import folder_dls
    dls = {}
    def make(k):
        d = folders(k)
        dls[k] = folder_dls(d, valid_name='valid', size=12, bs=16, aug='none', num_workers=0)
        return dls[k]
    def epoch(d):
        for _ in d.train: pass
    assert ratio(make, epoch, 160) < LINEAR

def test_audit_is_linear(folders):
    from transferlab.data import audit
    assert ratio(folders, lambda d: audit(d, show=False), 150) < LINEAR

def test_label_pipeline_is_linear(tmp_path):
    "prepare_csv with a TagGrouper, then the iterative split, on N and 2N rows of noisy tags."
    from transferlab.data import prepare_csv, iterative_split
    from transferlab.labels import TagGrouper
    img = tmp_path/'img.png'; Image.new('RGB', (8, 8)).save(img)
    words = ['cat', 'cats', '#Cat', 'dog', 'dogs', 'bird', 'tree', 'trees', 'sky', 'blue', 'red', 'car', '2024']
    def make(k):
        rng = np.random.default_rng(k)
        (tmp_path/f'i{k}').mkdir(exist_ok=True)
        for i in range(k):
            if not (tmp_path/f'i{k}'/f'{i}.png').exists(): os.link(img, tmp_path/f'i{k}'/f'{i}.png')
        tags = [', '.join(rng.choice(words, rng.integers(1, 4))) for _ in range(k)]
        f = tmp_path/f'tags{k}.csv'
        pd.DataFrame({'ImageID': [f'{i}.png' for i in range(k)], 'Tags': tags}).to_csv(f, index=False)
        return f
    def run(f):
        items = prepare_csv(f, img_dir=f.parent/f'i{f.stem[4:]}', label_col='Tags', tag_grouper=TagGrouper({'cat': ['cat'], 'dog': ['dog']}))
        iterative_split(items['labels'].tolist(), 0.2)
    assert ratio(make, run, 300) < LINEAR

def test_the_counter_sees_quadratic_work():
    "The yardstick itself: a dict rebuilt per item (the shape of the old `DecodedCache.open`) is caught."
    def quadratic(k):
        files = [str(i) for i in range(k)]
        return [{f: i for i, f in enumerate(files)}[f] for f in files]
    assert ratio(lambda k: k, quadratic, 150) > 3.5
    assert ratio(lambda k: k, lambda k: [i for i in range(k)], 150) < LINEAR

# --- one cache per node, shared read-only ---

READ_ONLY = """
import builtins, errno, os, sys   # every write under the cache folder fails as on a read-only filesystem
root = os.path.realpath(sys.argv[1])
def refuse(p, writing):
    try: p = os.path.realpath(os.fspath(p))
    except TypeError: return
    if writing and p.startswith(root): raise OSError(errno.EROFS, 'Read-only file system', p)
_open, _osopen = builtins.open, os.open
builtins.open = lambda f, mode='r', *a, **k: (refuse(f, any(c in mode for c in 'wax+')), _open(f, mode, *a, **k))[1]
os.open = lambda p, flags, *a, **k: (refuse(p, flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)), _osopen(p, flags, *a, **k))[1]
for name in ('replace', 'rename', 'remove', 'unlink', 'mkdir'):
    f = getattr(os, name)
    setattr(os, name, lambda p, *a, _f=f, **k: (refuse(p, True), _f(p, *a, **k))[1])
"""
OPEN = """
import sys
from transferlab.cache import DecodedCache
from transferlab.images import image_files
c = DecodedCache(image_files(sys.argv[2]), 12, path=sys.argv[1]).open()
print(int(c.pixels.sum()))
"""

def _open_in(cache_root, data, read_only=False, n=1):
    "Start `n` processes that open the cache at once; their (stdout, stderr)."
    script = (READ_ONLY if read_only else '') + OPEN
    procs = [subprocess.Popen([sys.executable, '-c', script, str(cache_root), str(data)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(n)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (o, e) in zip(procs, outs): assert p.returncode == 0, e
    return outs

@pytest.mark.slow
def test_one_build_per_node_then_read_only(folders, tmp_path):
    "Three processes start on a cold cache: one decodes, the others wait and reuse it; later ones only read it."
    data, root = folders(120), tmp_path/'caches'
    cold = _open_in(root, data, n=3)
    assert sum('decoding' in e for _, e in cold) == 1, [e for _, e in cold]
    assert len({o for o, _ in cold}) == 1   # the same pixels everywhere
    before = {p: p.stat().st_mtime_ns for p in root.rglob('*')}
    warm = _open_in(root, data, read_only=True, n=3)   # any write under the cache folder fails with EROFS
    assert [o for o, _ in warm] == [cold[0][0]]*3 and not any('decoding' in e for _, e in warm)
    assert {p: p.stat().st_mtime_ns for p in root.rglob('*')} == before   # nothing written, not even the lock
