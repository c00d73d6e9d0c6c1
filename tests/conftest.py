import shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture(scope='session')
def cli():
    "The installed `transferlab` console script (next to this Python), run as a subprocess."
    exe = Path(sys.executable).parent/'transferlab'
    if not exe.exists(): exe = shutil.which('transferlab')
    assert exe, "the transferlab console script is not installed; run the README's install command"
    def run(*args, timeout=600, **kw):
        return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)
    return run
