"""Data-parallel training end to end, as a user runs it: `transferlab train --processes 2` (Gloo on this CPU)
against one process, who writes what, and a rank killed mid-run.

The tolerance: two processes see exactly the batches one process sees, so the weights and the training loss
agree to float rounding (1e-5), and metrics computed from all predictions (F1) agree exactly. Batch averages
over the validation set (valid_loss, accuracy) include the one image repeated to make the two shares of the
25 validation images equal (13 each), so they differ by up to about one image's weight: within 0.05.
The memory format is pinned: `auto` measures per process, and one process with two threads and two
processes with one thread each are different machines to that measurement (within a run, rank 0 decides
for all ranks). The optimizer is SGD: a convolution on a batch of 8 rounds differently from one on 16
(about 1e-7), and Adam, which divides each step by the root of the gradient's running square, turns
rounding in near-zero gradients into full-size steps; after 12 steps its weights differ by ~5e-3 between
two single-process runs that differ only in memory format. With SGD the same comparison gives 1e-7.
"""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from conftest import inject, one_line, run_process

pytest.importorskip('accelerate')
pytestmark = pytest.mark.slow   # real process groups: the full suite runs them, the quick tier does not

@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    from transferlab.datasets import shapes_folder
    return shapes_folder(tmp_path_factory.mktemp('data')/'shapes', n_per_class=25, size=40)

COMMON = ['--arch', 'resnet18', '--size', '32', '--bs', '16', '--lr', '3e-3', '--aug', 'none', '--precision', 'fp32',
          '--memory-format', 'contiguous', '--opt-func', 'sgd', '--no-report', '--num-workers', '0']
SAME = ['--no-pretrained', '--freeze-bn', '--frozen-stages', '2', *COMMON]

@pytest.fixture(scope='module')
def WEIGHTS(tmp_path_factory):
    "Options that start from a weights file: transfer learning, so the probe runs first (on rank 0 alone) and is shared, and a trial of both ways decides the body."
    import torch, torchvision
    torch.manual_seed(0)
    w = tmp_path_factory.mktemp('weights')/'resnet18.pth'
    torch.save(torchvision.models.resnet18().state_dict(), w)
    return ['--weights', str(w), *COMMON]

WATCH = """
import builtins, io, os
rank, OUT, LOG = os.environ.get('RANK'), os.environ['TL_WATCH'], os.environ['TL_WATCH_LOG']
if rank is not None:   # a worker started by the launcher: record every write under OUT
    _open, _osopen = builtins.open, os.open
    def note(p):
        try: p = os.path.abspath(os.fspath(p))
        except TypeError: return
        if p.startswith(OUT):
            with _open(f'{LOG}{rank}', 'a') as f: f.write(p + '\\n')
    def open_(file, mode='r', *a, **k):
        if any(c in mode for c in 'wax+'): note(file)
        return _open(file, mode, *a, **k)
    builtins.open = io.open = open_
    def osopen(path, flags, *a, **k):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT): note(path)
        return _osopen(path, flags, *a, **k)
    os.open = osopen
    for name in ('replace', 'rename', 'mkdir', 'unlink', 'remove', 'rmdir'):
        def wrapped(*a, _f=getattr(os, name), _mk=name == 'mkdir', **k):
            if not (_mk and os.path.isdir(a[0])): note(a[0])   # making a folder that exists changes nothing
            return _f(*a, **k)
        setattr(os, name, wrapped)
"""

def weights(folder):
    from safetensors.numpy import load_file
    return load_file(str(folder/'model.safetensors'))

def test_two_processes_train_what_one_does(cli, run_main, shapes, tmp_path):
    one = run_main('train', shapes, *SAME, '--epochs', '2', '--out', tmp_path/'one')
    assert one.returncode == 0, one.stderr
    env = {**inject(tmp_path, WATCH), 'TL_WATCH': str(tmp_path/'two'), 'TL_WATCH_LOG': str(tmp_path/'writes')}
    two = cli('train', shapes, *SAME, '--epochs', '2', '--out', tmp_path/'two', '--processes', '2', env=env)
    assert two.returncode == 0, two.stderr
    w1, w2 = weights(tmp_path/'one'), weights(tmp_path/'two')
    assert w1.keys() == w2.keys()
    for k in w1: np.testing.assert_allclose(w1[k], w2[k], atol=1e-5, err_msg=k)
    h1, h2 = pd.read_csv(tmp_path/'one'/'history.csv'), pd.read_csv(tmp_path/'two'/'history.csv')
    assert len(h1) == len(h2) == 2
    np.testing.assert_allclose(h1.train_loss, h2.train_loss, rtol=1e-5)
    np.testing.assert_allclose(h1.f1_macro, h2.f1_macro, atol=1e-9)
    np.testing.assert_allclose(h1[['valid_loss', 'accuracy']], h2[['valid_loss', 'accuracy']], atol=0.05)
    # one writer: the same files as one process, one line per epoch printed once, and rank 1 wrote nothing
    files = lambda d: sorted(str(p.relative_to(d)) for p in d.rglob('*') if p.is_file())
    assert files(tmp_path/'one') == files(tmp_path/'two')
    assert two.stdout.count('epoch 1/2') == 1 and two.stdout.count('model.json') == 1, two.stdout
    assert (tmp_path/'writes0').read_text().count('history.csv') >= 1   # the watch works: it saw rank 0 write
    assert not (tmp_path/'writes1').exists(), (tmp_path/'writes1').read_text()
    import json
    assert json.loads((tmp_path/'two'/'result.json').read_text())['processes'] == 2

def _worker(rank:int, marker:str) -> int:
    "The pid of the launched `transferlab train` process of `rank` whose environment carries `marker`."
    for p in Path('/proc').iterdir():
        if not p.name.isdigit(): continue
        try: env = (p/'environ').read_bytes().split(b'\0')
        except OSError: continue
        if f'RANK={rank}'.encode() in env and marker.encode() in env: return int(p.name)

def test_killed_rank_fails_clearly_and_resumes(cli, shapes, WEIGHTS, tmp_path):
    out, marker = tmp_path/'run', f'TL_TEST_MARK={os.getpid()}'
    exe = Path(sys.executable).parent/'transferlab'
    env = {**os.environ, 'TL_TEST_MARK': str(os.getpid())}
    proc = subprocess.Popen([str(exe), 'train', str(shapes), *WEIGHTS, '--epochs', '6', '--out', str(out), '--processes', '2'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    ckpt, t0 = out/'.incomplete'/'models'/'checkpoint.json', time.time()
    while not ckpt.exists() and proc.poll() is None and time.time() - t0 < 300: time.sleep(0.05)
    pid = _worker(1, marker)
    assert pid is not None and proc.poll() is None, "the run ended before rank 1 could be killed"
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=300)
    r = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    line = one_line(r)
    assert 'rank 1 of 2 was killed by SIGKILL' in line and line.endswith('continue it with: --resume'), line
    assert not (out/'model.json').exists()
    import json
    k = json.loads(ckpt.read_text())['epochs_done']   # the last checkpointed epoch (a row logged after it is redone)
    done = pd.read_csv(out/'.incomplete'/'history.csv')
    assert 1 <= k < 7 and len(done) >= k
    again = cli('train', shapes, *WEIGHTS, '--epochs', '6', '--out', out, '--processes', '2', '--resume')
    assert again.returncode == 0, again.stderr
    h = pd.read_csv(out/'history.csv')
    assert h.epoch.tolist() == list(range(7))   # the probe and six epochs
    pd.testing.assert_frame_equal(h.iloc[:k].drop(columns='seconds'), done.iloc[:k].drop(columns='seconds'))
    assert f"epoch {k + 1}/7" in again.stdout and "epoch 1/7" not in again.stdout
    body = json.loads((out/'result.json').read_text())['body']   # the body trial ran on both processes (once, before or after the kill)
    assert body['way'] in ('kept', 'trained') and set(body['trial']) == {'kept', 'trained'}, body
    assert (body['frozen_stages'], body['freeze_bn']) == ((2, True) if body['way'] == 'kept' else (0, False)), body

def test_under_torchrun(run_main, shapes, tmp_path):
    "The same command under a launcher of the user's own (torchrun, as a multi-node job would start it): it joins the launcher's processes."
    one = run_main('train', shapes, *SAME, '--epochs', '1', '--out', tmp_path/'one')
    assert one.returncode == 0, one.stderr
    r = run_process([sys.executable, '-m', 'torch.distributed.run', '--nnodes', '1', '--nproc-per-node', '2', '--master-addr', '127.0.0.1',
                     '--master-port', _port(), '-m', 'transferlab.cli', 'train', shapes, *SAME, '--epochs', '1', '--out', tmp_path/'tr'],
                    600, env={**os.environ, 'OMP_NUM_THREADS': '1', 'GLOO_SOCKET_IFNAME': 'lo'})
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count('epoch 1/1') == 1, r.stdout   # rank 0 prints, once
    w1, w2 = weights(tmp_path/'one'), weights(tmp_path/'tr')
    for k in w1: np.testing.assert_allclose(w1[k], w2[k], atol=1e-5, err_msg=k)
    assert json.loads((tmp_path/'tr'/'result.json').read_text())['processes'] == 2

def _port():
    import socket
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]
