"""Bad input and faults, as a user meets them: every failure is one line that names the cause and the file or
option, never a traceback and never exit code 0; and a failure never costs work that was already done.

Faults that need the machine to misbehave (a full disk, a loss that turns to NaN) are made by patching one
library function for the length of a test (`monkeypatch`); the command runs in this process, the code under
test unchanged. Kills, signals and a second process holding a lock need real processes, and get them.
"""
import errno, json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import pandas as pd
import pytest
from PIL import Image
from conftest import TINY, SLOW_BATCHES, one_line, inject, copy_of

# --- lost work: a failed run never destroys the model a folder holds ---

@pytest.mark.slow
def test_failed_train_keeps_the_previous_model(run_main, trained, shapes, tmp_path, monkeypatch):
    "Fail a second run into a trained folder three ways; the first model still loads and predicts."
    out = copy_of(trained.out, tmp_path/'run')
    first = {f: (out/f).read_bytes() for f in ('model.json', 'model.safetensors', 'history.csv')}
    bad = copy_of(shapes, tmp_path/'bad')
    jpg = bad/'star'/'star_0003.jpg'; jpg.write_bytes(jpg.read_bytes()[:400])    # truncated: only decoding finds it, mid-epoch
    def no_space(*a, **k): raise OSError(errno.ENOSPC, 'No space left on device')
    failures = {
        'bad file mid-run': (['train', bad, *TINY, '--epochs', '2', '--no-cache', '--out', out], 'star_0003.jpg: cannot read image'),
        'budget 0': (['train', shapes, *TINY, '--epochs', '2', '--budget-minutes', '0', '--out', out], '--budget-minutes 0: no epoch finished'),
        'write error': (['train', shapes, *TINY, '--epochs', '1', '--out', out], 'No space left on device'),
    }
    for case, (args, msg) in failures.items():
        with monkeypatch.context() as m:
            if case == 'write error': m.setattr('safetensors.torch.save_file', no_space)
            line = one_line(run_main(*args))
        assert msg in line and f"the model already in {out} is untouched" in line, (case, line)
        assert {f: (out/f).read_bytes() for f in first} == first, case
    assert str(out/'.incomplete') in line and line.endswith('continue it with: --resume'), line   # the write error came after an epoch
    p = run_main('predict', out, *sorted((shapes/'star').iterdir())[:2], '--out', tmp_path/'p.csv')
    assert p.returncode == 0 and len(pd.read_csv(tmp_path/'p.csv')) == 2, p.stderr

@pytest.mark.slow
def test_grid_with_numeric_ids_survives_a_kill(run_main, shapes, tmp_path):
    "A grid over learning rates (ids 1e-3, 3e-3) killed after its first run, then resumed: each id once, as text, done."
    cfg = tmp_path/'lrs.yaml'
    cfg.write_text(f"base: {{data: {shapes}, arch: resnet18, pretrained: false, epochs: 1, size: 32, bs: 16}}\naxes:\n  lr: [0.001, 0.003]\n")
    exe = Path(sys.executable).parent/'transferlab'
    p = subprocess.Popen([str(exe), 'grid', str(cfg), '--out', str(tmp_path/'study')], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=inject(tmp_path, SLOW_BATCHES))
    csv, deadline = tmp_path/'study'/'results.csv', time.time() + 300
    while time.time() < deadline and not (csv.exists() and len(csv.read_text().splitlines()) >= 2): time.sleep(0.1)
    p.send_signal(signal.SIGKILL); p.communicate(timeout=60)
    assert pd.read_csv(csv, dtype={'id': str}).id.tolist() == ['1e-3']   # intact and parseable after the kill
    r = run_main('grid', cfg, '--out', tmp_path/'study', '--resume')   # the lock of the killed process went with it
    assert r.returncode == 0, r.stderr
    assert '[1/2] 1e-3: already done' in r.stdout
    res = pd.read_csv(csv, dtype={'id': str})
    assert res.id.tolist() == ['1e-3', '3e-3'] and res.status.tolist() == ['done', 'done']
    assert csv.read_text().count('\n1e-3,') == 1

# --- wrong results with exit code 0, now refused ---

def test_is_valid_column_is_not_a_split_unless_asked(run_main, shapes, tmp_path):
    rows = [dict(ImageID=f"{f.parent.name}/{f.name}", Labels=f.parent.name, is_valid=False) for f in sorted(shapes.rglob('*.jpg'))]
    pd.DataFrame(rows).to_csv(tmp_path/'labels.csv', index=False)
    r = run_main('train', shapes, '--csv', tmp_path/'labels.csv', *TINY, '--epochs', '1', '--no-report', '--out', tmp_path/'run')
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path/'run'/'result.json').read_text())['history'][0]['valid_loss'] is not None

@pytest.mark.parametrize('lr', ['inf', '1e6', 'nan', '-1e-3'])
def test_absurd_learning_rates_are_refused(run_main, shapes, tmp_path, lr):
    r = run_main('train', shapes, *TINY[:-2], f'--lr={lr}', '--out', tmp_path/'run')   # '=': argparse reads '-1e-3' alone as an option
    assert f"--lr {lr}: not a usable learning rate" in one_line(r) and not (tmp_path/'run').exists()

def test_loss_turning_nan_stops_the_run(run_main, shapes, trained, tmp_path, monkeypatch):
    import torch.nn.functional as F
    out = copy_of(trained.out, tmp_path/'run')
    before = (out/'model.safetensors').read_bytes()
    calls, real = [0], F.cross_entropy
    def nan_later(*a, **k):
        calls[0] += 1
        loss = real(*a, **k)
        return loss*float('nan') if calls[0] > 8 else loss
    monkeypatch.setattr(F, 'cross_entropy', nan_later)
    line = one_line(run_main('train', shapes, *TINY, '--epochs', '3', '--out', out))
    assert 'the training loss became nan in epoch' in line and 'use a lower learning rate' in line, line
    assert (out/'model.safetensors').read_bytes() == before

def test_one_class_is_refused(run_main, shapes, tmp_path):
    one = tmp_path/'one'; shutil.copytree(shapes/'star', one/'star')
    assert 'found 1 class (star); a classifier needs at least 2' in one_line(run_main('train', one, *TINY, '--out', tmp_path/'o'))
    flat = tmp_path/'flat'; shutil.copytree(shapes/'star', flat)     # images straight in DATA
    assert 'found 1 class (flat)' in one_line(run_main('train', flat, *TINY, '--out', tmp_path/'o'))

@pytest.mark.slow
def test_lr_find_corrupt_image_and_bad_numbers(run_main, shapes, tmp_path):
    bad = copy_of(shapes, tmp_path/'bad')
    for f in (bad/'star').iterdir(): f.write_bytes(f.read_bytes()[:300])
    line = one_line(run_main('lr-find', bad, *TINY[:-2], '--no-cache', '--num-it', '20'))
    assert '.jpg: cannot read image' in line and 'fallback' not in line, line
    ok = run_main('lr-find', bad, *TINY[:-2], '--num-it', '20', '--skip-bad')
    assert ok.returncode == 0 and 'suggested lr' in ok.stdout, ok.stderr
    for n in ('0', '-5'):
        assert f"--num-it {n}: must be a whole number at least 10" in one_line(run_main('lr-find', shapes, *TINY[:-2], '--num-it', n))

def test_model_files_that_lie_are_refused(run_main, trained, shapes, tmp_path):
    star = sorted((shapes/'star').iterdir())[0]
    meta = json.loads((trained.out/'model.json').read_text())
    cases = {'vocab': (['star'], "field 'vocab' must be at least 2 classes"),
             'multilabel': ('no', "field 'multilabel' must be true or false, got 'no'"),
             'stats': ([[0.5]*3, [0, 1, 1]], "field 'stats' must be standard deviations above 0"),
             'format_version': (99, "field 'format_version' must be one of [1, 2]"),
             'thresh': ('abc', "field 'thresh' must be")}
    for field, (value, msg) in {**cases, 'two classes': (None, "lists 2 class(es) but the weights' head")}.items():
        d = copy_of(trained.out, tmp_path/f"m_{field.replace(' ', '_')}")
        m = {**meta, 'vocab': ['circle', 'star']} if value is None else {**meta, field: value}
        (d/'model.json').write_text(json.dumps(m))
        line = one_line(run_main('predict', d, star, '--out', tmp_path/'p.csv'))
        assert msg in line and 'model.json' in line, (field, line)
        assert not (tmp_path/'p.csv').exists()
    for broken in ('pickle', 'truncated'):
        d = copy_of(trained.out, tmp_path/f'w_{broken}')
        if broken == 'pickle':
            import torch; torch.save({'w': torch.zeros(2)}, d/'model.safetensors')
        else: (d/'model.safetensors').write_bytes((trained.out/'model.safetensors').read_bytes()[:5000])
        assert 'model.safetensors: not a safetensors weights file' in one_line(run_main('predict', d, star, '--out', tmp_path/'p.csv'))

# --- raw errors and unsafe limits ---

@pytest.fixture(scope='module')
def bomb(tmp_path_factory):
    "A 14000x14000 PNG (a few hundred KB on disk, 588 MB decoded) among good images."
    from transferlab.datasets import shapes_folder
    d = tmp_path_factory.mktemp('bomb')/'data'
    shutil.copytree(shapes_folder(n_per_class=8, size=32), d)
    Image.new('L', (14000, 14000)).save(d/'star'/'huge.png', compress_level=1)
    return d

def test_decompression_bomb(run_main, bomb, tmp_path):
    line = one_line(run_main('train', bomb, *TINY, '--epochs', '1', '--out', tmp_path/'r'))
    assert 'huge.png: image too large' in line and 'megapixel' in line and '--skip-bad' in line, line
    a = run_main('audit', bomb)
    assert a.returncode == 0 and 'huge.png (too large' in a.stdout, a.stdout
    r = run_main('train', bomb, *TINY, '--epochs', '1', '--skip-bad', '--no-report', '--out', tmp_path/'ok')
    assert r.returncode == 0 and 'huge.png' in r.stderr, r.stderr

def test_file_names_that_are_not_utf8(run_main, trained, shapes, tmp_path):
    d = tmp_path/'odd'/'star'; d.mkdir(parents=True)
    name = os.fsdecode(b'bad\xff\xfe.jpg')
    shutil.copy(sorted((shapes/'star').iterdir())[0], d/name)
    r = run_main('predict', trained.out, '--folder', tmp_path/'odd', '--out', tmp_path/'p.csv')
    assert r.returncode == 0, r.stderr
    assert b'star/bad\xff\xfe.jpg' in (tmp_path/'p.csv').read_bytes()
    a = run_main('audit', tmp_path/'odd', '--table', tmp_path/'a.csv')
    assert a.returncode == 0 and b'bad\xff\xfe.jpg' in (tmp_path/'a.csv').read_bytes(), a.stderr

def test_size_that_cannot_fit_is_refused(run_main, shapes, tmp_path):
    t = time.time()
    line = one_line(run_main('train', shapes, '--no-pretrained', '--arch', 'resnet18', '--size', '100000', '--bs', '64', '--out', tmp_path/'r'))
    assert 'resnet18 at size 100000 with batch size 64 needs about' in line and 'available' in line, line
    assert time.time() - t < 120   # refused up front, not after growing for minutes

@pytest.mark.parametrize('args,msg', [
    (['train', '{shapes}', '--num-workers', '-1'], '--num-workers -1: must be a whole number at least 0'),
    (['train', '{shapes}', '--delim', ''], "--delim : must be a non-empty separator"),
    (['train', '{shapes}', '--early-stop', '0'], '--early-stop 0: must be a whole number at least 1'),
    (['train', '{shapes}', '--valid-pct', '1.5'], '--valid-pct 1.5: must be a number above 0 and at most 1'),
    (['predict', '{trained}', '{star}', '--bs', '0'], '--bs 0: must be a whole number at least 1'),
    (['predict', '{trained}', '{star}', '--bs', '-3'], '--bs -3: must be a whole number at least 1'),
    (['predict', '{trained}', '{star}', '--thresh', '0.3'], '--thresh 0.3: is for multi-label models'),
    (['serve', '{trained}', '--port', '0'], '--port 0: must be a whole number at least 1 and at most 65535'),
])
def test_raw_messages_are_one_clear_line(run_main, shapes, trained, tmp_path, args, msg):
    star = sorted((shapes/'star').iterdir())[0]
    args = [a.format(shapes=shapes, trained=trained.out, star=star) for a in args]
    r = run_main(*args, '--out', tmp_path/'o') if args[0] in ('train', 'predict') else run_main(*args)
    assert msg in one_line(r)

def test_no_abbreviated_options(run_main, shapes, tmp_path):
    r = run_main('train', shapes, '--epoch', '1', '--out', tmp_path/'o')
    assert r.returncode == 2 and 'unrecognized arguments: --epoch' in r.stderr

def test_gradcam_bad_image_does_not_suggest_missing_options(run_main, trained, tmp_path):
    (tmp_path/'x.jpg').write_bytes(b'not a jpeg')
    line = one_line(run_main('gradcam', trained.out, tmp_path/'x.jpg', '--out', tmp_path/'c.png'))
    assert 'x.jpg: cannot read image' in line and '--skip-bad' not in line

def test_dangling_symlink(run_main, shapes, tmp_path):
    d = copy_of(shapes, tmp_path/'linked')
    (d/'star'/'gone.jpg').symlink_to(tmp_path/'nowhere.jpg')
    a = run_main('audit', d)
    assert a.returncode == 0 and '1 bad' in a.stdout and 'gone.jpg (broken link' in a.stdout, a.stdout
    assert 'gone.jpg (broken link)' in one_line(run_main('train', d, *TINY, '--out', tmp_path/'o'))

@pytest.mark.slow
def test_vit_builds_and_trains(run_main, shapes, tmp_path):
    "Architectures fastai has no entry for (a bare StopIteration before) train like any other."
    r = run_main('train', shapes, '--no-pretrained', '--arch', 'vit_b_32', '--size', '32', '--bs', '16', '--epochs', '1', '--lr', '1e-4',
                 '--precision', 'fp32', '--memory-format', 'contiguous', '--no-report', '--out', tmp_path/'vit')   # (measuring a ViT-B's formats takes 20 s)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path/'vit'/'model.json').read_text())['arch'] == 'vit_b_32'

def test_model_files_are_world_readable(trained):
    modes = {f.name: oct(f.stat().st_mode & 0o777) for f in trained.out.iterdir() if f.is_file()}
    assert len(set(modes.values())) == 1 and modes['model.safetensors'] == modes['model.json'], modes

# --- faults: locks, signals, a full disk ---

def _start_train(shapes, out, tmp_path, epochs=10):
    "A `train` in the background, its batches slowed down so it is still running when the test acts."
    exe = Path(sys.executable).parent/'transferlab'
    return subprocess.Popen([str(exe), 'train', str(shapes), *TINY, '--epochs', str(epochs), '--out', str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=inject(tmp_path, SLOW_BATCHES))

def _wait_for(path, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline and not Path(path).exists(): time.sleep(0.1)
    assert Path(path).exists(), f"{path} never appeared"

@pytest.mark.slow
def test_two_trains_into_one_folder_and_sigterm(run_main, shapes, tmp_path):
    "A second train into a busy --out is refused; SIGTERM stops the first like Ctrl-C (exit 143) and --resume finishes it."
    out = tmp_path/'run'
    p = _start_train(shapes, out, tmp_path)
    ckpt = out/'.incomplete'/'models'/'checkpoint.json'
    _wait_for(ckpt)
    line = one_line(run_main('train', shapes, *TINY, '--epochs', '1', '--out', out))
    assert f"{out} is in use by another transferlab process (pid {p.pid})" in line, line
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    assert 'stopped (SIGTERM)' in err and '--resume' in err
    done = json.loads(ckpt.read_text())['epochs_done']
    r = run_main('train', shapes, *TINY, '--epochs', '10', '--out', out, '--resume')   # at full speed
    assert r.returncode == 0, r.stderr
    assert pd.read_csv(out/'history.csv').epoch.tolist() == list(range(10)) and 1 <= done < 10

@pytest.mark.slow   # (nbs/00_core checks the cause it names in the quick tier)
def test_read_only_home_is_named(run_main, shapes, tmp_path, monkeypatch):
    "A read-only TRANSFERLAB_HOME: the system's words and the two ways out, not pathlib's 'No such file or directory'; --no-cache trains."
    home, real = tmp_path/'ro-home', os.mkdir
    def mkdir(p, *a, **k):
        if str(p).startswith(str(home)): raise OSError(errno.EROFS, 'Read-only file system', str(p))
        return real(p, *a, **k)
    monkeypatch.setenv('TRANSFERLAB_HOME', str(home)); monkeypatch.setattr(os, 'mkdir', mkdir)
    line = one_line(run_main('train', shapes, *TINY, '--epochs', '1', '--out', tmp_path/'run'))
    assert line.startswith('transferlab train: error: Read-only file system: ') and 'set TRANSFERLAB_HOME' in line and '--no-cache' in line, line
    assert not (tmp_path/'run').exists()
    r = run_main('train', shapes, *TINY, '--epochs', '1', '--no-cache', '--no-report', '--out', tmp_path/'run')
    assert r.returncode == 0 and (tmp_path/'run'/'model.safetensors').is_file(), r.stderr

def test_disk_full_while_checkpointing(run_main, shapes, trained, tmp_path, monkeypatch):
    "The second checkpoint cannot be written: the cause and the file are named, the first checkpoint and the old model stay."
    import torch
    out = copy_of(trained.out, tmp_path/'run')
    before = (out/'model.safetensors').read_bytes()
    real, n = torch.save, [0]
    def save(obj, f, *a, **k):
        if 'checkpoint' in str(f):
            n[0] += 1
            if n[0] >= 2: raise OSError(errno.ENOSPC, 'No space left on device')
        return real(obj, f, *a, **k)
    monkeypatch.setattr(torch, 'save', save)
    line = one_line(run_main('train', shapes, *TINY, '--epochs', '3', '--out', out))
    assert 'No space left on device' in line and 'checkpoint.pth' in line and 'Checkpoint.after_epoch' in line, line
    assert (out/'model.safetensors').read_bytes() == before
    state = torch.load(out/'.incomplete'/'models'/'checkpoint.pth', weights_only=False, map_location='cpu')   # the first one, whole
    assert 'model' in state and json.loads((out/'.incomplete'/'models'/'checkpoint.json').read_text())['epochs_done'] == 1

@pytest.mark.slow
def test_no_command_writes_outside_its_output(run_main, shapes, trained, tmp_path, monkeypatch):
    "Every command, its output named under outs/: nothing else changes under the data, the model, the grid file or the working directory."
    world, outs = tmp_path/'world', tmp_path/'world'/'outs'
    data, run = copy_of(shapes, world/'data'), copy_of(trained.out, world/'run')
    (world/'cfg').mkdir()
    (world/'cfg'/'grid.yaml').write_text(f"base: {{data: {data}, arch: resnet18, pretrained: false, epochs: 1, size: 32, bs: 16, lr: 0.003}}\n"
                                         "axes:\n  opt_func: [adam]\n")
    (world/'cwd').mkdir(); monkeypatch.chdir(world/'cwd')   # where defaults (./mlruns, ./mlflow.db, ./predictions.csv) would land
    star = sorted((data/'star').iterdir())[0]
    def state(): return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in world.rglob('*') if outs not in (p, *p.parents)}
    commands = [('train', data, *TINY, '--epochs', '1', '--out', outs/'train', '--mlflow', f"sqlite:///{outs/'tracking'/'mlflow.db'}"),
                ('evaluate', run, data, '--out', outs/'eval'),
                ('predict', run, '--folder', data, '--out', outs/'pred.csv'),
                ('export', run, '--out', outs/'export'),
                ('lr-find', data, '--no-pretrained', '--arch', 'resnet18', '--size', '32', '--bs', '8', '--num-it', '10', '--plot', outs/'lr.png'),
                ('audit', data, '--table', outs/'audit.csv'),
                ('gradcam', run, star, '--out', outs/'cam.png'),
                ('grid', world/'cfg'/'grid.yaml', '--out', outs/'grid'),
                ('report', outs/'grid', '--html', outs/'grid'/'leaderboard.html')]
    for args in commands:
        before = state()
        r = run_main(*args)
        assert r.returncode == 0, (args[0], r.stderr[-2000:])
        after = state()
        assert after == before, (args[0], sorted(set(after) ^ set(before))[:10], [k for k in before if after.get(k) != before[k]][:10])
