"""The package as a user installs it: build the wheel, install it (not editable) into a fresh venv, and run
`transferlab demo` from there. The venv reuses this environment's dependencies (torch is not downloaded
again) but not its editable install of transferlab, so what runs is the wheel's code."""
import subprocess, sys, sysconfig, zipfile
from pathlib import Path
import pytest
from conftest import run_process

ROOT = Path(__file__).resolve().parent.parent

@pytest.mark.slow
def test_wheel_installs_and_runs_the_demo(tmp_path):
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path/'dist'), str(ROOT)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next((tmp_path/'dist').glob('transferlab-*.whl'))
    names = zipfile.ZipFile(wheel).namelist()
    assert 'transferlab/cli.py' in names and not any(n.startswith(('nbs/', 'tests/')) for n in names)
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith('METADATA'))).decode()
    assert 'Requires-Dist: fastai' in meta and 'Provides-Extra: timm' in meta
    venv = tmp_path/'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    site = next(venv.glob('lib/python*/site-packages'))
    (site/'deps.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')   # torch and friends from here; .pth files there are not run
    py = venv/'bin'/'python'
    r = subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-index', '-q', '--target', str(site), str(wheel)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    where = subprocess.run([str(py), '-c', 'import transferlab; print(transferlab.__file__)'], capture_output=True, text=True, cwd=tmp_path)
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr   # the wheel's code, not the checkout's
    demo = run_process([py, '-c', 'import sys; from transferlab.cli import main; sys.exit(main(sys.argv[1:]))', 'demo', '--data', 'shapes', '--epochs', '1', '--n-per-class', '10', '--size', '32', '--bs', '16',
                        '--out', tmp_path/'demo'], 600, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert (tmp_path/'demo'/'metrics.json').exists()
