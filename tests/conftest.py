"""Shared fixtures. Most command-line tests call `transferlab.cli.main` in this process (`run_main`): the code path is
the console script's, without paying for a fresh import of torch and fastai each time. Only what needs a real
process starts one (`cli`): signals, kills, process groups, the wheel, servers and browsers.

`shapes` and `trained` are built once per test process and shared by every test that only reads them; a test that
changes a folder works on `copy_of` it."""
import contextlib, io, os, shutil, signal, subprocess, sys, textwrap, types
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
if int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1')) > 1:   # workers share the cores: one thread each, for them and what they start
    os.environ.setdefault('OMP_NUM_THREADS', '1')               # (two threads each make both several times slower)
TINY = ['--no-pretrained', '--arch', 'resnet18', '--size', '32', '--bs', '16', '--lr', '3e-3']   # a run in seconds

@pytest.fixture(scope='session', autouse=True)
def scratch(tmp_path_factory):
    """Every temporary file of the tests, and of the processes they start, goes under pytest's own folder. With
    `tmp_path_retention_policy = "failed"` (pyproject.toml) pytest removes a passing test's folder when the test ends,
    and its whole folder, this one included, when every test passed: a green run leaves nothing in the machine's /tmp.
    Ray keeps its sessions in /tmp/ray (its socket paths must stay short)."""
    import tempfile
    d = str(tmp_path_factory.mktemp('tmp'))
    old = {k: os.environ.get(k) for k in ('TMPDIR', 'RAY_TMPDIR')}
    os.environ.update(TMPDIR=d, RAY_TMPDIR=old['RAY_TMPDIR'] or tempfile.gettempdir())
    tempfile.tempdir = d
    yield Path(d)
    tempfile.tempdir = None
    for k, v in old.items():
        if v is None: os.environ.pop(k, None)
        else: os.environ[k] = v

def main_in_process(*args):
    "`transferlab.cli.main` in this process, returning its exit code, stdout and stderr as a subprocess would."
    from transferlab.cli import main
    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e): code = main([str(a) for a in args])
    return types.SimpleNamespace(returncode=code, stdout=o.getvalue(), stderr=e.getvalue())

@pytest.fixture(scope='session')
def run_main(): return main_in_process

def run_process(args, timeout:float=600, **kw) -> subprocess.CompletedProcess:
    """`subprocess.run(args, capture_output=True, text=True)` in a process group of its own: past `timeout` the whole
    group is killed (a child's children too, which would otherwise hold its pipes open and hang the test)."""
    p = subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)
    try: out, err = p.communicate(timeout=timeout)
    except BaseException as e:   # the timeout, pytest-timeout's interruption, Ctrl-C: the group goes too
        with contextlib.suppress(ProcessLookupError): os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        if not isinstance(e, subprocess.TimeoutExpired): raise
        raise AssertionError(f"{' '.join(map(str, args))} ran past {timeout} s and was killed; it printed:\n{out[-2000:]}\n{err[-2000:]}") from None
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)

@pytest.fixture(scope='session')
def cli():
    "The installed `transferlab` console script (next to this Python), run as a subprocess."
    exe = Path(sys.executable).parent/'transferlab'
    if not exe.exists(): exe = shutil.which('transferlab')
    assert exe, "the transferlab console script is not installed; run the README's install command"
    def run(*args, timeout=600, **kw): return run_process([exe, *args], timeout, **kw)
    return run

@pytest.fixture(scope='session')
def shapes(tmp_path_factory):
    "50 generated images of 5 classes at 32 px (read only: copy it to change it)."
    from transferlab.datasets import shapes_folder
    return shapes_folder(tmp_path_factory.mktemp('data')/'shapes', n_per_class=10, size=32)

@pytest.fixture(scope='session')
def trained(shapes, tmp_path_factory):
    "A run folder written by `transferlab train` (2 epochs from scratch), with what the command printed (read only)."
    out = tmp_path_factory.mktemp('runs')/'run'
    r = main_in_process('train', shapes, *TINY, '--epochs', '2', '--out', out)
    assert r.returncode == 0, r.stderr
    return types.SimpleNamespace(out=out, stdout=r.stdout, stderr=r.stderr)

def one_line(r, code=1) -> str:
    "The single error line of a failed command (warnings, cache news and slow steps are one-liners of their own)."
    lines = [l for l in r.stderr.strip().splitlines() if not l.startswith(('warning:', 'cache:', 'step:'))]
    assert r.returncode == code, (r.returncode, r.stdout[-500:], r.stderr)
    assert len(lines) == 1 and 'Traceback' not in r.stderr, r.stderr
    return lines[0]

def inject(tmp_path, code:str) -> dict:
    "Environment whose Python runs `code` at start-up (a sitecustomize), to slow down or break a child process."
    d = tmp_path/'inject'; d.mkdir(exist_ok=True)
    (d/'sitecustomize.py').write_text(textwrap.dedent(code))
    return {**os.environ, 'PYTHONPATH': str(d) + os.pathsep + os.environ.get('PYTHONPATH', '')}

def copy_of(src, dst):
    shutil.copytree(src, dst, symlinks=True)
    return dst

def chromium():
    "The Chromium (or Chrome) that browser tests drive: Debian's package, or $TRANSFERLAB_CHROMIUM."
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        if shutil.which(name): return shutil.which(name)
    return os.environ.get('TRANSFERLAB_CHROMIUM')

def interruptible():
    """`preexec_fn` for a child that a test stops with Ctrl-C (SIGINT). A shell starts background jobs with SIGINT
    ignored, an ignored signal stays ignored across exec, and Python then installs no KeyboardInterrupt handler:
    under `nohup pytest ... &` the child would never see the Ctrl-C. The child gets the default action back."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)

SLOW_BATCHES = '''
    import builtins, sys, time
    _import = builtins.__import__
    def _slowed(name, *a, **k):   # once fastai.learner is loaded: every batch takes half a second longer
        m = _import(name, *a, **k)
        L = sys.modules.get('fastai.learner')
        if hasattr(L, 'Learner') and not getattr(L.Learner, '_slowed', False):
            one = L.Learner.one_batch
            def one_batch(self, *a, **k):
                "fastai's `one_batch`, half a second later"
                time.sleep(0.5); return one(self, *a, **k)
            L.Learner.one_batch, L.Learner._slowed = one_batch, True
        return m
    builtins.__import__ = _slowed
    '''
