import shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture(scope='session', autouse=True)
def scratch(tmp_path_factory):
    """Every temporary file of the tests, and of the processes they start, goes under pytest's own folder. With
    `tmp_path_retention_policy = "failed"` (pyproject.toml) pytest removes a passing test's folder when the test ends,
    and its whole folder, this one included, when every test passed: a green run leaves nothing in the machine's /tmp.
    Ray keeps its sessions in /tmp/ray (its socket paths must stay short)."""
    import os, tempfile
    d = str(tmp_path_factory.mktemp('tmp'))
    old = {k: os.environ.get(k) for k in ('TMPDIR', 'RAY_TMPDIR')}
    os.environ.update(TMPDIR=d, RAY_TMPDIR=old['RAY_TMPDIR'] or tempfile.gettempdir())
    tempfile.tempdir = d
    yield Path(d)
    tempfile.tempdir = None
    for k, v in old.items():
        if v is None: os.environ.pop(k, None)
        else: os.environ[k] = v

@pytest.fixture(scope='session')
def cli():
    "The installed `transferlab` console script (next to this Python), run as a subprocess."
    exe = Path(sys.executable).parent/'transferlab'
    if not exe.exists(): exe = shutil.which('transferlab')
    assert exe, "the transferlab console script is not installed; run the README's install command"
    def run(*args, timeout=600, **kw):
        return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)
    return run

@pytest.fixture(scope='session')
def run_main():
    "`transferlab.cli.main` in this process (fast, for argument and input errors), returning code, stdout and stderr."
    import contextlib, io, types
    from transferlab.cli import main
    def run(*args):
        o, e = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e): code = main([str(a) for a in args])
        return types.SimpleNamespace(returncode=code, stdout=o.getvalue(), stderr=e.getvalue())
    return run

def chromium():
    "The Chromium (or Chrome) that browser tests drive: Debian's package, or $TRANSFERLAB_CHROMIUM."
    import os
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        if shutil.which(name): return shutil.which(name)
    return os.environ.get('TRANSFERLAB_CHROMIUM')

def interruptible():
    """`preexec_fn` for a child that a test stops with Ctrl-C (SIGINT). A shell starts background jobs with SIGINT
    ignored, an ignored signal stays ignored across exec, and Python then installs no KeyboardInterrupt handler:
    under `nohup pytest ... &` the child would never see the Ctrl-C. The child gets the default action back."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)
