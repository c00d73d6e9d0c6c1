"""The `transferlab` command end to end: each command on generated data, in this process (`main`, the console
script's own code); Ctrl-C, and what a shell sees of `--help`, in a real process."""
import json, signal, subprocess, sys, time
from pathlib import Path
import pandas as pd
import pytest
from conftest import TINY, SLOW_BATCHES, one_line, copy_of, inject, interruptible, run_process

RUN_FILES = ['calibration.png', 'confusion.png', 'confusion_normalized.png', 'curves.png', 'gradcam.png', 'history.csv', 'metrics.json', 'model.json', 'model.safetensors',
             'per_class.csv', 'pr_curves.png', 'report.html', 'result.json', 'top_losses.png']

def test_bad_usage_exits_2(run_main):
    assert run_main('no-such-command').returncode == 2
    assert run_main('train', 'x', '--no-such-option').returncode == 2
    assert run_main().returncode == 2
    r = run_main('train', 'x', '--metric', 'f1')
    assert r.returncode == 2 and "argument --metric: invalid choice: 'f1'" in r.stderr and 'macro_f1' in r.stderr, r.stderr

@pytest.mark.parametrize('args,msg', [
    (['--epochs', '-3'], '--epochs -3: must be a whole number at least 0'),
    (['--epochs', '0', '--freeze-epochs', '0'], '--epochs 0: nothing to train'),
    (['--arch', 'resnet19'], "--arch resnet19: unknown arch; did you mean resnet18"),
])
def test_bad_values_fail_with_one_line(run_main, shapes, tmp_path, args, msg):
    r = run_main('train', shapes, '--no-pretrained', '--out', tmp_path/'out', *args)
    assert msg in one_line(r), r.stderr
    assert not (tmp_path/'out').exists()

def test_unwritable_out(run_main, shapes, tmp_path):
    (tmp_path/'a-file').write_text('x')
    assert 'cannot write there' in one_line(run_main('train', shapes, *TINY, '--out', tmp_path/'a-file'/'out'))
    assert 'is a file; pass a folder' in one_line(run_main('train', shapes, *TINY, '--out', tmp_path/'a-file'))

def test_debug_shows_traceback(run_main, shapes, tmp_path):
    r = run_main('--debug', 'train', shapes, '--arch', 'resnet19', '--out', tmp_path/'out')
    assert r.returncode == 1 and 'Traceback' in r.stderr

def test_help_as_a_shell_sees_it(cli):
    "Each command's --help is checked in the cli notebook (in-process); here, what a shell sees, warnings included."
    r = cli('--help')
    for name in ('train', 'predict', 'lr-find', 'audit', 'gradcam', 'grid', 'report', 'demo'): assert f'  {name} ' in r.stdout, name
    h = cli('train', '--help')
    assert h.returncode == 0 and h.stdout.startswith('usage: transferlab train') and '--pretrained, --no-pretrained' in h.stdout
    for opt in ('--out DIR', '--epochs N', '--freeze-epochs N', '--lr LR', '--size PX', '--bs N', '--csv CSV', '--weights FILE', '--arch ARCH',
                '--multi', '--early-stop N', '--budget-minutes MIN', '--resume', "(default: 'resnet34')", "(default: 'auto')"):
        assert opt in h.stdout, opt
    assert '(str)' not in h.stdout and '(int)' not in h.stdout and '<function' not in h.stdout
    assert h.stderr == '', h.stderr   # no deprecation noise from torch/fastai imports
    p = cli('predict', '--help').stdout
    assert '--out CSV' in p and '--no-probs' in p   # what --out is
    assert '--out FILE' in cli('gradcam', '--help').stdout and '--table CSV' in cli('audit', '--help').stdout

def test_train_writes_model_log_result(trained):
    out, stdout = trained.out, trained.stdout
    assert sorted(f.name for f in out.iterdir()) == RUN_FILES   # no .lock, no .incomplete, no checkpoints
    h, res = pd.read_csv(out/'history.csv'), json.loads((out/'result.json').read_text())
    assert len(h) == 2 and len(res['history']) == 2
    meta = json.loads((out/'model.json').read_text())
    assert meta['format'] == 'transferlab-model' and meta['vocab'] == ['circle', 'cross', 'square', 'star', 'triangle']
    lines = stdout.strip().splitlines()
    assert [l.split(':')[0] for l in lines[:2]] == ['epoch 1/2 (unfrozen)', 'epoch 2/2 (unfrozen)']
    best = h.iloc[h.accuracy.idxmax()]
    assert lines[2].startswith(f"kept epoch {int(best.epoch) + 1} of 2: accuracy {best.accuracy:.4f}") and f"valid_loss {best.valid_loss:.4f}" in lines[2]
    assert lines[3] == f"report: {out/'report.html'}"
    assert 'Better model found' not in stdout and '\r' not in stdout   # its own words, one line per epoch, no bar redraws
    steps = [l for l in trained.stderr.splitlines() if l.startswith('step: ')]   # slow steps say themselves on stderr, in order
    assert steps[0].startswith('step: reading ') and steps[1] == 'step: building resnet18 (from scratch)', steps
    i = steps.index('step: fine-tuning: epoch 1 of 2 of this phase')   # (formats timed in between, once per machine)
    assert [s.split()[1] for s in steps[i + 1:]] == ['tuning', 'writing'], steps   # then the logit shift, and the report
    m = json.loads((out/'metrics.json').read_text())
    assert m['accuracy'] == pytest.approx(best.accuracy, abs=1e-6)   # the report scores the kept model

def test_train_multilabel_csv_writes_thresholds(run_main, tmp_path):
    from transferlab.datasets import shapes_multilabel
    ml = shapes_multilabel(tmp_path/'ml', n=60, size=32)
    r = run_main('train', ml/'labels.csv', *TINY, '--epochs', '1', '--out', tmp_path/'run')
    assert r.returncode == 0, r.stderr
    th = json.loads((tmp_path/'run'/'thresholds.json').read_text())
    assert 0 < th['thresh'] < 1 and th['f1_micro'] >= th['f1_micro_at_0_5']
    assert json.loads((tmp_path/'run'/'model.json').read_text())['thresh'] == th['thresh']
    assert f"threshold {th['thresh']:.2f}" in r.stdout   # one threshold everywhere
    m = json.loads((tmp_path/'run'/'metrics.json').read_text())
    assert m['thresh'] == th['thresh'] and 'accuracy' not in m and 0 <= m['label_accuracy'] <= 1   # per-label accuracy, named so
    assert 0 <= m['ece'] <= 1 and sum(b['n'] for b in m['reliability']) == m['n_images']*len(json.loads((tmp_path/'run'/'model.json').read_text())['vocab'])
    p = run_main('predict', tmp_path/'run', '--folder', ml/'images', '--out', tmp_path/'preds.csv', '--top-k', '2')
    assert p.returncode == 0, p.stderr
    preds = pd.read_csv(tmp_path/'preds.csv')
    assert list(preds.columns) == ['ImageID', 'Labels', 'probs'] and len(preds) == 60

def test_predict_writes_kaggle_csv(run_main, trained, shapes, tmp_path):
    stars = sorted((shapes/'star').iterdir())[:2]
    r = run_main('predict', trained.out, *stars, '--out', tmp_path/'two.csv')
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(tmp_path/'two.csv')
    assert list(df.columns) == ['ImageID', 'Label', 'prob'] and df.ImageID.tolist() == [s.name for s in stars]
    assert set(df.Label) <= {'circle', 'cross', 'square', 'star', 'triangle'} and df.prob.between(0, 1).all()
    assert stars[0].name in r.stdout   # a few answers are printed
    r = run_main('predict', trained.out/'model.json', '--dir', shapes, '--out', tmp_path/'all.csv', '--tta', '--no-probs')   # --dir: --folder's alias
    assert r.returncode == 0, r.stderr
    assert pd.read_csv(tmp_path/'all.csv').shape == (50, 2)

@pytest.mark.slow
def test_lr_find_prints_and_plots(run_main, shapes, tmp_path):
    r = run_main('lr-find', shapes, *TINY[:-2], '--num-it', '20', '--plot', tmp_path/'lr.png')
    assert r.returncode == 0, r.stderr
    assert 1e-7 < float(r.stdout.split('suggested lr ')[1].split()[0]) < 10
    assert (tmp_path/'lr.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

def test_audit_reports_bad_files(run_main, shapes, tmp_path):
    planted = copy_of(shapes, tmp_path/'planted')
    (planted/'star'/'broken.jpg').write_bytes(b'not a jpeg')
    r = run_main('audit', planted, '--table', tmp_path/'audit.csv')
    assert r.returncode == 0 and 'broken.jpg' in r.stdout and '1 bad' in r.stdout
    assert len(pd.read_csv(tmp_path/'audit.csv')) == 51
    assert '1 bad or missing' in one_line(run_main('audit', planted, '--strict'))

def test_gradcam_writes_overlay(run_main, trained, shapes, tmp_path):
    img = sorted((shapes/'star').iterdir())[0]
    r = run_main('gradcam', trained.out, img, '--target', 'star', '--out', tmp_path/'cam.png')
    assert r.returncode == 0, r.stderr
    assert (tmp_path/'cam.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert "'hexagon' is not a class" in one_line(run_main('gradcam', trained.out, img, '--target', 'hexagon', '--out', tmp_path/'bad.png'))
    assert not (tmp_path/'bad.png').exists()

def test_grid_then_report(run_main, shapes, tmp_path):
    cfg = tmp_path/'study.yaml'
    cfg.write_text(f"base: {{data: {shapes}, pretrained: false, epochs: 1, size: 32, bs: 16, lr: 0.003}}\naxes:\n  arch: [resnet18, resnet19]\n")
    r = run_main('grid', cfg, '--out', tmp_path/'study')
    assert r.returncode == 0, r.stderr
    assert '[1/2] resnet18: accuracy' in r.stdout and "[2/2] resnet19: failed: ParamError: arch='resnet19': unknown arch" in r.stdout
    res = pd.read_csv(tmp_path/'study'/'results.csv')
    assert res.id.tolist() == ['resnet18', 'resnet19'] and res.status.iloc[0] == 'done'
    assert (tmp_path/'study'/'resnet18'/'model.json').exists() and not (tmp_path/'study'/'.lock').exists()
    assert 'continue that study: --resume' in one_line(run_main('grid', cfg, '--out', tmp_path/'study'))
    r = run_main('grid', cfg, '--out', tmp_path/'study', '--resume')
    assert r.returncode == 0 and '[1/2] resnet18: already done' in r.stdout
    (tmp_path/'study'/'report.html').unlink()
    r = run_main('report', tmp_path/'study')
    assert r.returncode == 0 and '**1 of 2 runs done**' in r.stdout
    html = (tmp_path/'study'/'report.html').read_text()
    assert 'resnet18' in html and '<img' in html
    (tmp_path/'study.json').write_text(json.dumps({'base': {'data': str(shapes)}, 'axes': {'arch': 'resnet18'}}))
    assert "axis 'arch' needs a non-empty list" in one_line(run_main('grid', tmp_path/'study.json', '--out', tmp_path/'j'))

@pytest.mark.parametrize('case', ['missing folder', 'empty folder', 'csv missing column', 'corrupt image', 'unknown arch',
                                  'missing model', 'missing image', 'report without results'])
def test_failures_are_one_line(run_main, shapes, trained, tmp_path, case):
    (tmp_path/'empty'/'cats').mkdir(parents=True)
    (tmp_path/'nolabel.csv').write_text('ImageID\nstar/star_0000.jpg\n')
    planted = copy_of(shapes, tmp_path/'planted'); (planted/'star'/'broken.jpg').write_bytes(b'not a jpeg')
    out = tmp_path/'out'
    args, msg = {
        'missing folder': (['train', tmp_path/'nowhere', *TINY, '--out', out], 'nowhere: no such folder or CSV file'),
        'empty folder': (['train', tmp_path/'empty', *TINY, '--out', out], 'empty: no images found'),
        'csv missing column': (['train', tmp_path/'nolabel.csv', *TINY, '--out', out], "nolabel.csv: no column 'Labels'"),
        'corrupt image': (['train', planted, *TINY, '--epochs', '1', '--out', out], 'broken.jpg: cannot read image'),
        'unknown arch': (['train', shapes, '--arch', 'resnet19', '--out', out], "--arch resnet19: unknown arch"),
        'missing model': (['predict', tmp_path/'nomodel', planted/'star'/'star_0000.jpg'], 'nomodel: no such model'),
        'missing image': (['predict', trained.out, tmp_path/'no.jpg', '--out', out/'p.csv'], 'no.jpg: no such image file'),
        'report without results': (['report', tmp_path], 'results.csv: no such file'),
    }[case]
    line = one_line(run_main(*args))
    assert line.startswith(f'transferlab {args[0]}: error: ') and msg in line, line
    assert not out.exists()   # nothing written, not even the folder

def test_train_skip_bad_trains_on_the_rest(run_main, shapes, tmp_path):
    planted = copy_of(shapes, tmp_path/'planted'); (planted/'star'/'broken.jpg').write_bytes(b'not a jpeg')
    assert one_line(run_main('train', planted, *TINY, '--epochs', '1', '--out', tmp_path/'bad')).endswith('or leave them out: --skip-bad')
    r = run_main('train', planted, *TINY, '--epochs', '1', '--skip-bad', '--out', tmp_path/'run')
    assert r.returncode == 0, r.stderr
    assert 'warning:' in r.stderr and 'broken.jpg' in r.stderr
    assert (tmp_path/'run'/'model.json').exists()

def test_train_from_a_run_folder(run_main, trained, shapes, tmp_path):
    "--weights RUN starts from a transferlab model: its body, and its head when the classes are the same."
    r = run_main('train', shapes, '--arch', 'resnet18', '--weights', trained.out, '--size', '32', '--bs', '16', '--lr', '1e-3', '--epochs', '1',
                 '--no-report', '--out', tmp_path/'more')
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('epoch 1/2 (probe)')   # from trained weights: the probe first
    line = one_line(run_main('train', shapes, '--arch', 'resnet34', '--weights', trained.out, '--out', tmp_path/'x'))
    assert line.startswith('transferlab train: error: --arch resnet34:') and line.endswith('is a resnet18 model; start from it with: --arch resnet18'), line

@pytest.mark.slow
def test_train_interrupt_then_resume(cli, shapes, tmp_path):
    "Ctrl-C after the first finished epoch: exit 130, only complete files; --resume finishes the run."
    out = tmp_path/'run'
    args = ['train', str(shapes), *TINY, '--epochs', '8', '--out', str(out)]
    p = subprocess.Popen([str(Path(sys.executable).parent/'transferlab'), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=interruptible, env=inject(tmp_path, SLOW_BATCHES))
    work = out/'.incomplete'   # a run works here until it succeeds
    ckpt = work/'models'/'checkpoint.json'
    deadline = time.time() + 180
    while time.time() < deadline and not ckpt.exists(): time.sleep(0.1)
    assert ckpt.exists(), "training did not start"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert '--resume' in err.strip().splitlines()[-1]
    assert not (out/'model.json').exists() and not [f for f in out.rglob('*') if f.name.endswith('.tmp')]
    done = json.loads(ckpt.read_text())['epochs_done']
    assert 1 <= done < 8
    h = pd.read_csv(work/'history.csv')
    assert len(h) >= done
    # Ctrl-C can land between the log (callback order 55) and the checkpoint (56): simulate a row logged for an
    # epoch that was not checkpointed; resuming redoes that epoch and must not log it twice
    pd.concat([h.iloc[:done], h.iloc[[done - 1]].assign(epoch=done)]).to_csv(work/'history.csv', index=False)
    r = cli(*args, '--resume')
    assert r.returncode == 0, r.stderr
    h = pd.read_csv(out/'history.csv')
    assert h.epoch.tolist() == list(range(8)) and (out/'model.json').exists() and not work.exists() and not (out/'.lock').exists()

@pytest.mark.slow
def test_interrupt_before_any_epoch_leaves_nothing(shapes, tmp_path):
    "Ctrl-C before the first epoch ends: exit 130, and no --out folder at all (nothing to resume)."
    out = tmp_path/'run'
    p = subprocess.Popen([str(Path(sys.executable).parent/'transferlab'), 'train', str(shapes), *TINY, '--epochs', '3', '--out', str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible, env=inject(tmp_path, SLOW_BATCHES))
    deadline = time.time() + 180
    while time.time() < deadline and not (out/'.incomplete'/'models').exists(): time.sleep(0.05)   # training has begun
    assert (out/'.incomplete'/'models').exists(), p.poll()
    time.sleep(1.0)   # two slowed batches into the first epoch
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130 and 'interrupted' in err, err
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path/'inject']

def test_predict_ids_are_unique_and_map_back(run_main, trained, shapes, tmp_path):
    "Two test images with the same name in two folders: ids that tell them apart and lead back to each file; `--ids name` refuses."
    import shutil
    d = tmp_path/'test'; (d/'a').mkdir(parents=True); (d/'b').mkdir()
    src = sorted((shapes/'star').iterdir())[:2]
    shutil.copy(src[0], d/'a'/'0.jpg'); shutil.copy(src[1], d/'b'/'0.jpg')
    r = run_main('predict', trained.out, '--folder', d, '--out', tmp_path/'p.csv')
    assert r.returncode == 0, r.stderr
    ids = pd.read_csv(tmp_path/'p.csv').ImageID.tolist()
    assert sorted(ids) == ['a/0.jpg', 'b/0.jpg'] and all((d/i).is_file() for i in ids)
    line = one_line(run_main('predict', trained.out, '--folder', d, '--ids', 'name', '--out', tmp_path/'q.csv'))
    assert "two images would get the id '0.jpg'" in line and line.endswith('keep them apart with: --ids relpath') and not (tmp_path/'q.csv').exists()

@pytest.mark.slow
def test_demo_on_generated_shapes(run_main, tmp_path):
    "`demo --data shapes` (no download, no weights): the same run folder as `train`, its metrics the kept epoch's."
    r = run_main('demo', '--data', 'shapes', '--out', tmp_path/'demo', '--epochs', '2', '--n-per-class', '12', '--size', '32', '--bs', '16')
    assert r.returncode == 0, r.stderr
    out = tmp_path/'demo'
    assert sorted(f.name for f in out.iterdir()) == RUN_FILES
    h, m = pd.read_csv(out/'history.csv'), json.loads((out/'metrics.json').read_text())
    assert len(h) == 2 and m['accuracy'] == pytest.approx(h.accuracy.max(), abs=1e-6)
    assert '[0, ' not in r.stdout and all(l.startswith(('cache:', 'warning:', 'step:')) for l in r.stderr.splitlines()), (r.stdout, r.stderr)

@pytest.mark.slow
def test_readme_demo_command(tmp_path):
    "The README's demo command as written (`make demo`, here told where to write): real photos, ImageNet weights, >= 80% accuracy."
    from test_repo import readme_setup, ROOT
    demo, _ = readme_setup()
    r = run_process(demo.split() + [f"DEMO_ARGS=--out {tmp_path/'demo'}"], 900, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    out, lines = tmp_path/'demo', [l for l in r.stdout.splitlines() if not l.startswith(('.venv/bin/transferlab', 'make'))]
    m = json.loads((out/'metrics.json').read_text())
    assert m['accuracy'] >= 0.80 and (m['arch'], m['pretrained']) == ('mobilenet_v2', True) and 'fashion-mnist' in m['data'], m
    assert (out/'report.html').is_file() and (out/'model.json').is_file()
    assert all(l.startswith(('epoch ', 'kept epoch ', 'report: ')) for l in lines), lines   # transferlab's own lines, no raw recorder rows
    assert all(l.startswith(('cache:', 'warning:', 'step:')) for l in r.stderr.splitlines()), r.stderr   # and no foreign warning
