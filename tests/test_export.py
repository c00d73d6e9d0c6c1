"""Exported models on a machine without torch: a venv that has only Pillow, numpy, onnxruntime (and what they
import) besides transferlab itself predicts the same labels as `transferlab predict` with the full library."""
import subprocess, sys, sysconfig
from pathlib import Path
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ('numpy', 'numpy.libs', 'PIL', 'pillow.libs', 'onnxruntime', 'packaging', 'flatbuffers', 'google')

@pytest.fixture(scope='module')
def exported(run_main, tmp_path_factory):
    from transferlab.datasets import shapes_folder
    d = tmp_path_factory.mktemp('exp')
    data = shapes_folder(d/'shapes', n_per_class=8, size=40)
    r = run_main('train', data, '--no-pretrained', '--arch', 'resnet18', '--size', '32', '--bs', '16', '--epochs', '1', '--lr', '3e-3',
                 '--no-report', '--out', d/'run')
    assert r.returncode == 0, r.stderr
    e = run_main('export', d/'run')
    assert e.returncode == 0 and (d/'run'/'model.onnx.json').exists(), e.stderr
    return d, data

def torchless_python(tmp_path) -> Path:
    "A venv whose only packages are the runtime's (linked from this environment) and this checkout's transferlab."
    venv = tmp_path/'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    site, here = next(venv.glob('lib/python*/site-packages')), Path(sysconfig.get_paths()['purelib'])
    for name in RUNTIME:
        if (here/name).exists(): (site/name).symlink_to(here/name)
    (site/'transferlab').symlink_to(ROOT/'transferlab')
    return venv/'bin'/'python'

def test_runtime_without_torch_predicts_like_the_library(run_main, exported, tmp_path):
    d, data = exported
    py = torchless_python(tmp_path)
    probe = subprocess.run([str(py), '-c', 'import torch'], capture_output=True, text=True)
    assert probe.returncode != 0 and 'torch' in probe.stderr   # really no torch there
    r = subprocess.run([str(py), '-m', 'transferlab.runtime', str(d/'run'/'model.onnx'), '--folder', str(data), '--out', str(tmp_path/'rt.csv')],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    full = run_main('predict', d/'run', '--folder', data, '--out', tmp_path/'full.csv')
    assert full.returncode == 0, full.stderr
    rt, lib = pd.read_csv(tmp_path/'rt.csv'), pd.read_csv(tmp_path/'full.csv')
    assert len(rt) == 40 and rt.ImageID.tolist() == lib.ImageID.tolist() and rt.Label.tolist() == lib.Label.tolist()
    assert (rt.prob - lib.prob).abs().max() < 2e-4 and b'\r' not in (tmp_path/'rt.csv').read_bytes()   # the same file, line endings too

def test_runtime_errors_are_one_line(exported, tmp_path):
    d, data = exported
    py = torchless_python(tmp_path)
    (tmp_path/'bad.jpg').write_bytes(b'not a jpeg')
    for args, msg in (([str(d/'run'/'model.onnx'), str(tmp_path/'bad.jpg')], 'bad.jpg: cannot read image'),
                      ([str(tmp_path/'none.onnx'), str(tmp_path/'bad.jpg')], 'none.onnx: missing'),
                      ([str(d/'run'/'model.onnx'), '--bs', '0', str(tmp_path/'bad.jpg')], '--bs must be at least 1')):
        r = subprocess.run([str(py), '-m', 'transferlab.runtime', *args], capture_output=True, text=True)
        assert r.returncode == 1 and msg in r.stderr and 'Traceback' not in r.stderr, r.stderr

def test_export_cli_torchscript_and_bad_format(run_main, exported):
    d, _ = exported
    r = run_main('export', d/'run', '--format', 'torchscript')
    assert r.returncode == 0 and (d/'run'/'model.pt').exists(), r.stderr
    r = run_main('export', d/'run', '--format', 'tflite')
    assert r.returncode == 2 and "invalid choice: 'tflite'" in r.stderr
