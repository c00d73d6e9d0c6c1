"End-to-end tests of the `transferlab` console script, run as a user runs it: a subprocess."
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pandas as pd
import pytest
from conftest import interruptible

def test_bad_usage_exits_2(cli):
    assert cli('no-such-command').returncode == 2
    assert cli('demo', '--no-such-option').returncode == 2
    assert cli().returncode == 2

@pytest.mark.parametrize('args,msg', [
    (['--epochs', '0'], '--epochs must be at least 1'),
    (['--epochs', '-3'], '--epochs must be at least 1'),
    (['--arch', 'resnet19'], "unknown arch 'resnet19'"),
])
def test_bad_values_fail_with_one_line(cli, tmp_path, args, msg):
    r = cli('demo', '--out', tmp_path/'out', *args)
    assert r.returncode == 1
    assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert 'Traceback' not in r.stderr
    assert not (tmp_path/'out').exists()

def test_unwritable_out(cli, tmp_path):
    (tmp_path/'a-file').write_text('x')
    r = cli('demo', '--out', tmp_path/'a-file'/'out')
    assert r.returncode == 1 and 'cannot write there' in r.stderr and len(r.stderr.strip().splitlines()) == 1
    if os.geteuid() != 0:  # root can write anywhere, so a read-only folder only tests something for other users
        ro = tmp_path/'ro'; ro.mkdir(); ro.chmod(0o500)
        r = cli('demo', '--out', ro/'out')
        assert r.returncode == 1 and 'cannot write there' in r.stderr

def test_debug_shows_traceback(cli, tmp_path):
    r = cli('--debug', 'demo', '--out', tmp_path/'out', '--arch', 'resnet19')
    assert r.returncode == 1 and 'Traceback' in r.stderr

def test_demo_tiny_run_writes_real_metrics(cli, tmp_path):
    out = tmp_path/'demo'
    r = cli('demo', '--out', out, '--epochs', '2', '--n-per-class', '12', '--size', '32', '--bs', '16')
    assert r.returncode == 0, r.stderr
    assert sorted(f.name for f in out.iterdir()) == ['log.csv', 'metrics.json', 'model.json', 'model.safetensors']
    m = json.loads((out/'metrics.json').read_text())
    log = pd.read_csv(out/'log.csv')
    assert len(log) == 2 and m['epochs'] == 2
    # metrics.json reports the last logged epoch, not a made-up number
    assert m['accuracy'] == pytest.approx(log['accuracy'].iloc[-1], abs=1e-4)
    assert m['valid_loss'] == pytest.approx(log['valid_loss'].iloc[-1], abs=1e-4)
    assert m['model_mb'] == pytest.approx((out/'model.safetensors').stat().st_size/2**20, rel=0.05)
    assert (m['n_train'], m['n_valid']) == (50, 10)   # stratified: 2 of each class's 12 held out
    assert 'accuracy' in r.stdout.splitlines()[-1]
    assert not [f for f in tmp_path.iterdir() if f.name.startswith('.')]  # no staging folder left

def test_interrupt_leaves_nothing_half_written(cli, tmp_path):
    "Ctrl-C during training: exit 130, no --out folder and no staging folder."
    exe = Path(sys.executable).parent/'transferlab'
    out = tmp_path/'demo'
    p = subprocess.Popen([str(exe), 'demo', '--out', str(out), '--epochs', '100000', '--n-per-class', '12', '--size', '32', '--bs', '16'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    def training():  # fastai's CSVLogger has opened the staging folder's log: the fit has begun (it writes rows buffered)
        return any((f/'log.csv').exists() for f in tmp_path.iterdir() if f.name.startswith('.demo.'))
    try:
        deadline = time.time() + 180
        while time.time() < deadline and not training() and p.poll() is None: time.sleep(0.2)
        assert training(), f"training did not start: {p.poll()}"
        time.sleep(3)   # a few batches into the fit
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None: p.kill(); p.communicate()
    assert p.returncode == 130, err
    assert 'interrupted' in err
    assert not out.exists() and list(tmp_path.iterdir()) == []

@pytest.mark.skipif(not os.environ.get('TRANSFERLAB_SLOW'), reason='full-size demo takes ~2 minutes; set TRANSFERLAB_SLOW=1 (bench/demo.py times it)')
def test_demo_defaults_reach_90_percent(cli, tmp_path):
    r = cli('demo', '--out', tmp_path/'demo')
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path/'demo'/'metrics.json').read_text())
    assert m['accuracy'] >= 0.90, m


# --- train / predict / lr-find / audit / gradcam / grid / report, as subprocesses on generated data ---

TINY = ['--no-pretrained', '--arch', 'resnet18', '--size', '32', '--bs', '16', '--lr', '3e-3']

@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    from transferlab.datasets import shapes_folder
    return shapes_folder(tmp_path_factory.mktemp('data')/'shapes', n_per_class=10, size=32)

@pytest.fixture(scope='module')
def trained(cli, shapes, tmp_path_factory):
    "A model trained by `transferlab train` (2 epochs), shared by the tests that use one."
    out = tmp_path_factory.mktemp('runs')/'run'
    r = cli('train', shapes, *TINY, '--epochs', '2', '--out', out)
    assert r.returncode == 0, r.stderr
    return out, r

def _one_error_line(r):
    lines = [l for l in r.stderr.strip().splitlines() if not l.startswith(('warning:', 'cache:'))]
    assert len(lines) == 1 and 'Traceback' not in r.stderr, r.stderr
    return lines[0]

def test_help_lists_every_subcommand(cli):
    "Each command's --help is checked in the cli notebook (in-process); here, what a shell sees, warnings included."
    r = cli('--help')
    for name in ('train', 'predict', 'lr-find', 'audit', 'gradcam', 'grid', 'report', 'demo'): assert f'  {name} ' in r.stdout, name
    h = cli('train', '--help')
    assert h.returncode == 0 and h.stdout.startswith('usage: transferlab train') and '--pretrained, --no-pretrained' in h.stdout
    for opt in ('--out', '--arch', '--epochs', '--freeze-epochs', '--lr', '--precision', '--bs', '--size', '--csv', '--multi',
                '--weights', '--early-stop', '--budget-minutes', '--resume'): assert opt in h.stdout, opt
    assert '(default: resnet34)' in h.stdout and '(default: auto)' in h.stdout
    for metavar in ('--out DIR', '--epochs N', '--lr LR', '--size PX', '--bs N', '--csv CSV', '--weights FILE', '--arch ARCH'):
        assert metavar in h.stdout, metavar   # conventional usage lines, not `--out (str)`
    assert '(str)' not in h.stdout and '(int)' not in h.stdout and '<function' not in h.stdout
    assert h.stderr == '', h.stderr   # no deprecation noise from torch/fastai imports

def test_train_writes_model_log_result(trained):
    out, r = trained
    assert sorted(f.name for f in out.iterdir()) == ['.lock', 'confusion.png', 'curves.png', 'gradcam.png', 'history.csv', 'metrics.json', 'model.json',
                                                     'model.safetensors', 'per_class.csv', 'pr_curves.png', 'report.html', 'result.json', 'top_losses.png']
    h, res = pd.read_csv(out/'history.csv'), json.loads((out/'result.json').read_text())
    assert len(h) == 2 and len(res['history']) == 2
    meta = json.loads((out/'model.json').read_text())
    assert meta['format'] == 'transferlab-model' and meta['vocab'] == ['circle', 'cross', 'square', 'star', 'triangle']
    last, report = r.stdout.strip().splitlines()[-2:]
    assert report == f"report: {out/'report.html'}"
    assert last.startswith('accuracy ') and f"{h.accuracy.max():.4f}" in last and 'model.json' in last
    assert 'Better model found' not in r.stdout and '\r' not in r.stdout   # its own words, one line per epoch, no bar redraws
    assert [l.split(':')[0] for l in r.stdout.splitlines()[:2]] == ['epoch 1/2 (unfrozen)', 'epoch 2/2 (unfrozen)']

def test_train_multilabel_csv_writes_thresholds(cli, tmp_path):
    from transferlab.datasets import shapes_multilabel
    ml = shapes_multilabel(tmp_path/'ml', n=60, size=32)
    r = cli('train', ml/'labels.csv', *TINY, '--epochs', '1', '--out', tmp_path/'run')
    assert r.returncode == 0, r.stderr
    th = json.loads((tmp_path/'run'/'thresholds.json').read_text())
    assert 0 < th['thresh'] < 1 and th['f1_micro'] >= th['f1_micro_at_0_5']
    assert json.loads((tmp_path/'run'/'model.json').read_text())['thresh'] == th['thresh']
    p = cli('predict', tmp_path/'run', '--folder', ml/'images', '--out', tmp_path/'preds.csv', '--top-k', '2')
    assert p.returncode == 0, p.stderr
    preds = pd.read_csv(tmp_path/'preds.csv')
    assert list(preds.columns) == ['ImageID', 'Labels'] and len(preds) == 60

def test_predict_writes_kaggle_csv(cli, trained, shapes, tmp_path):
    out, _ = trained
    stars = sorted((shapes/'star').iterdir())[:2]
    r = cli('predict', out, *stars, '--out', tmp_path/'two.csv')
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(tmp_path/'two.csv')
    assert list(df.columns) == ['ImageID', 'Label'] and df.ImageID.tolist() == [s.name for s in stars]
    assert set(df.Label) <= {'circle', 'cross', 'square', 'star', 'triangle'}
    r = cli('predict', out/'model.json', '--dir', shapes, '--out', tmp_path/'all.csv', '--tta')   # --dir: the old name of --folder
    assert r.returncode == 0, r.stderr
    assert len(pd.read_csv(tmp_path/'all.csv')) == 50

def test_lr_find_prints_and_plots(cli, shapes, tmp_path):
    r = cli('lr-find', shapes, *TINY[:-2], '--num-it', '20', '--plot', tmp_path/'lr.png')
    assert r.returncode == 0, r.stderr
    lr = float(r.stdout.split('suggested lr ')[1].split()[0])
    assert 1e-7 < lr < 10
    assert (tmp_path/'lr.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

def test_audit_reports_bad_files(cli, shapes, tmp_path):
    import shutil
    planted = tmp_path/'planted'; shutil.copytree(shapes, planted)
    (planted/'star'/'broken.jpg').write_bytes(b'not a jpeg')
    r = cli('audit', planted, '--out', tmp_path/'audit.csv')
    assert r.returncode == 0 and 'broken.jpg' in r.stdout and '1 bad' in r.stdout
    assert len(pd.read_csv(tmp_path/'audit.csv')) == 51
    r = cli('audit', planted, '--strict')
    assert r.returncode == 1 and '1 bad or missing' in _one_error_line(r)

def test_gradcam_writes_overlay(cli, trained, shapes, tmp_path):
    out, _ = trained
    img = sorted((shapes/'star').iterdir())[0]
    r = cli('gradcam', out, img, '--target', 'star', '--out', tmp_path/'cam.png')
    assert r.returncode == 0, r.stderr
    assert (tmp_path/'cam.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    r = cli('gradcam', out, img, '--target', 'hexagon', '--out', tmp_path/'bad.png')
    assert r.returncode == 1 and "'hexagon' is not a class" in _one_error_line(r) and not (tmp_path/'bad.png').exists()

def test_grid_then_report(cli, shapes, tmp_path):
    cfg = tmp_path/'study.yaml'
    cfg.write_text(f"base: {{data: {shapes}, pretrained: false, epochs: 1, size: 32, bs: 16, lr: 0.003}}\n"
                   "axes:\n  arch: [resnet18, resnet19]\n")
    r = cli('grid', cfg, '--out', tmp_path/'study')
    assert r.returncode == 0, r.stderr
    assert '[1/2] resnet18: accuracy' in r.stdout and "[2/2] resnet19: failed: ValueError: unknown arch 'resnet19'" in r.stdout
    res = pd.read_csv(tmp_path/'study'/'results.csv')
    assert res.id.tolist() == ['resnet18', 'resnet19'] and res.status.iloc[0] == 'done'
    assert (tmp_path/'study'/'resnet18'/'model.json').exists()
    r = cli('grid', cfg, '--out', tmp_path/'study')
    assert r.returncode == 1 and 'pass --resume' in _one_error_line(r)
    r = cli('grid', cfg, '--out', tmp_path/'study', '--resume')
    assert r.returncode == 0 and '[1/2] resnet18: already done' in r.stdout
    (tmp_path/'study'/'report.html').unlink()
    r = cli('report', tmp_path/'study')
    assert r.returncode == 0 and '**1 of 2 runs done**' in r.stdout
    html = (tmp_path/'study'/'report.html').read_text()
    assert 'resnet18' in html and '<img' in html
    jcfg = tmp_path/'study.json'
    jcfg.write_text(json.dumps({'base': {'data': str(shapes)}, 'axes': {'arch': 'resnet18'}}))
    r = cli('grid', jcfg, '--out', tmp_path/'j')
    assert r.returncode == 1 and "axis 'arch' needs a non-empty list" in _one_error_line(r)

@pytest.mark.parametrize('case', ['missing folder', 'empty folder', 'csv missing column', 'corrupt image', 'unknown arch',
                                  'missing model', 'missing image', 'report without results'])
def test_failures_are_one_line(cli, shapes, trained, tmp_path, case):
    import shutil
    (tmp_path/'empty'/'cats').mkdir(parents=True)
    (tmp_path/'nolabel.csv').write_text('ImageID\nstar/star_0000.jpg\n')
    planted = tmp_path/'planted'; shutil.copytree(shapes, planted); (planted/'star'/'broken.jpg').write_bytes(b'not a jpeg')
    out = tmp_path/'out'
    args, msg = {
        'missing folder': (['train', tmp_path/'nowhere', *TINY, '--out', out], 'nowhere: no such folder or CSV file'),
        'empty folder': (['train', tmp_path/'empty', *TINY, '--out', out], 'empty: no images found'),
        'csv missing column': (['train', tmp_path/'nolabel.csv', *TINY, '--out', out], "nolabel.csv: no column 'Labels'"),
        'corrupt image': (['train', planted, *TINY, '--epochs', '1', '--out', out], 'broken.jpg: cannot read image'),
        'unknown arch': (['train', shapes, '--arch', 'resnet19', '--out', out], "unknown arch 'resnet19'"),
        'missing model': (['predict', tmp_path/'nomodel', planted/'star'/'star_0000.jpg'], 'nomodel: no such model'),
        'missing image': (['predict', trained[0], tmp_path/'no.jpg', '--out', out/'p.csv'], 'no.jpg: no such image file'),
        'report without results': (['report', tmp_path], 'results.csv: no such file'),
    }[case]
    r = cli(*args)
    assert r.returncode == 1, (r.returncode, r.stderr)
    line = _one_error_line(r)
    assert line.startswith(f'transferlab {args[0]}: error: ') and msg in line, line
    assert not (out/'model.json').exists() and not (out/'p.csv').exists()

def test_train_skip_bad_trains_on_the_rest(cli, shapes, tmp_path):
    import shutil
    planted = tmp_path/'planted'; shutil.copytree(shapes, planted); (planted/'star'/'broken.jpg').write_bytes(b'not a jpeg')
    r = cli('train', planted, *TINY, '--epochs', '1', '--skip-bad', '--out', tmp_path/'run')
    assert r.returncode == 0, r.stderr
    assert 'warning:' in r.stderr and 'broken.jpg' in r.stderr
    assert (tmp_path/'run'/'model.json').exists()

def test_train_interrupt_then_resume(cli, shapes, tmp_path):
    "Ctrl-C after the first finished epoch: exit 130, only complete files; --resume finishes the run."
    exe = Path(sys.executable).parent/'transferlab'
    out = tmp_path/'run'
    args = [str(exe), 'train', str(shapes), *TINY, '--epochs', '8', '--out', str(out)]   # Ctrl-C comes ~0.1 s after the first epoch
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
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
    r = subprocess.run(args + ['--resume'], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    h = pd.read_csv(out/'history.csv')
    assert h.epoch.tolist() == list(range(8)) and (out/'model.json').exists() and not work.exists()

def test_predict_ids_are_unique_and_map_back(cli, trained, shapes, tmp_path):
    "Two test images with the same name in two folders: ids that tell them apart and lead back to each file; `--id name` refuses."
    import shutil
    out, _ = trained
    d = tmp_path/'test'; (d/'a').mkdir(parents=True); (d/'b').mkdir()
    src = sorted((shapes/'star').iterdir())[:2]
    shutil.copy(src[0], d/'a'/'0.jpg'); shutil.copy(src[1], d/'b'/'0.jpg')
    r = cli('predict', out, '--folder', d, '--out', tmp_path/'p.csv')
    assert r.returncode == 0, r.stderr
    ids = pd.read_csv(tmp_path/'p.csv').ImageID.tolist()
    assert sorted(ids) == ['a/0.jpg', 'b/0.jpg'] and all((d/i).is_file() for i in ids)
    r = cli('predict', out, '--folder', d, '--id', 'name', '--out', tmp_path/'q.csv')
    assert r.returncode == 1 and "two images would get the id '0.jpg'" in r.stderr and not (tmp_path/'q.csv').exists(), r.stderr
