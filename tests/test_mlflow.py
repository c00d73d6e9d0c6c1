"""MLflow tracking from the command line, read back with MLflow's own client: against a local store (MLflow's
default, a SQLite file in the working directory, and the older `file:` store) and against a real `mlflow
server` started here on 127.0.0.1."""
import json, os, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pandas as pd
import pytest
from conftest import TINY as _TINY

mlflow = pytest.importorskip('mlflow')
TINY = [*_TINY, '--no-report']

def the_run(uri:str, name:str):
    c = mlflow.MlflowClient(uri)
    runs = c.search_runs([c.get_experiment_by_name('transferlab').experiment_id], filter_string=f"attributes.run_name = '{name}'")
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return c, runs[0]

def check_train_run(uri:str, out:Path):
    "Params, per-epoch metrics (exactly history.csv) and artifacts (byte for byte) of a `train --mlflow` run."
    c, run = the_run(uri, out.name)
    assert run.info.status == 'FINISHED'
    p = run.data.params
    assert (p['arch'], p['lr'], p['epochs'], p['size'], p['bs'], p['pretrained']) == ('resnet18', '0.003', '2', '32', '16', 'False')
    h = pd.read_csv(out/'history.csv')
    for col in ('train_loss', 'valid_loss', 'accuracy', 'f1_macro'):
        got = c.get_metric_history(run.info.run_id, col)
        assert [m.step for m in got] == h.epoch.tolist()
        assert [m.value for m in got] == pytest.approx(h[col].tolist(), abs=1e-12)
    res = json.loads((out/'result.json').read_text())
    assert run.data.metrics[f"best_{res['monitor']}"] == pytest.approx(res['best'][res['monitor']])
    names = sorted(a.path for a in c.list_artifacts(run.info.run_id))
    assert names == ['history.csv', 'model.json', 'model.safetensors', 'result.json'], names
    local = Path(c.download_artifacts(run.info.run_id, 'model.safetensors', str(out.parent/'download')))
    assert local.read_bytes() == (out/'model.safetensors').read_bytes()

@pytest.mark.slow
def test_train_default_store_and_file_store(run_main, shapes, tmp_path, monkeypatch):
    monkeypatch.delenv('MLFLOW_TRACKING_URI', raising=False); monkeypatch.delenv('MLFLOW_ALLOW_FILE_STORE', raising=False)
    monkeypatch.chdir(tmp_path)
    r = run_main('train', shapes, *TINY, '--epochs', '2', '--out', tmp_path/'run', '--mlflow')
    assert r.returncode == 0, r.stderr
    assert (tmp_path/'mlflow.db').is_file()          # MLflow's default store (3.7+): ./mlflow.db
    check_train_run(f"sqlite:///{tmp_path/'mlflow.db'}", tmp_path/'run')
    uri = f"file:{tmp_path/'mlruns'}"   # MLflow's older file store refuses new runs unless MLFLOW_ALLOW_FILE_STORE is set: its message, nothing written
    r = run_main('train', shapes, *TINY, '--epochs', '2', '--out', tmp_path/'filed', '--mlflow', uri)
    assert r.returncode == 1 and 'MLFLOW_ALLOW_FILE_STORE=true' in r.stderr.splitlines()[-1] and not (tmp_path/'filed').exists(), r.stderr
    monkeypatch.setenv('MLFLOW_ALLOW_FILE_STORE', 'true')
    r = run_main('train', shapes, *TINY, '--epochs', '2', '--out', tmp_path/'filed', '--mlflow', uri)
    assert r.returncode == 0, r.stderr
    check_train_run(uri, tmp_path/'filed')

def test_failed_train_is_marked_failed(run_main, shapes, tmp_path):
    uri = f"sqlite:///{tmp_path/'m.db'}"
    r = run_main('train', shapes, *TINY, '--epochs', '2', '--budget-minutes', '0', '--out', tmp_path/'late', '--mlflow', uri)
    assert r.returncode == 1
    assert the_run(uri, 'late')[1].info.status == 'FAILED'

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.mark.slow   # (nbs/03e_tracking checks `check_server` in the quick tier)
def test_tracking_server_down_fails_fast_with_one_line(run_main, shapes, tmp_path):
    url = f'http://127.0.0.1:{free_port()}'   # nobody listens there
    r = run_main('train', shapes, *TINY, '--out', tmp_path/'run', '--mlflow', url)
    assert r.returncode == 1 and f'MLflow tracking server {url} does not answer' in r.stderr.splitlines()[-1], r.stderr
    assert not (tmp_path/'run').exists()

@pytest.mark.slow   # (nbs/03e_tracking checks a lost store in the quick tier)
def test_tracking_lost_mid_run_keeps_training(run_main, shapes, tmp_path, monkeypatch):
    uri, calls = f"sqlite:///{tmp_path/'m.db'}", []
    real = mlflow.MlflowClient.log_batch
    def flaky(self, *a, **k):   # the store answers the settings and the first epoch, then is gone
        calls.append(1)
        if len(calls) > 2: raise ConnectionError('Connection refused')
        return real(self, *a, **k)
    monkeypatch.setattr(mlflow.MlflowClient, 'log_batch', flaky)
    r = run_main('train', shapes, *TINY, '--epochs', '2', '--out', tmp_path/'run', '--mlflow', uri)
    assert r.returncode == 0, r.stderr
    assert (tmp_path/'run'/'model.safetensors').is_file() and 'kept epoch' in r.stdout
    assert r.stderr.count(f'MLflow tracking at {uri} stopped (ConnectionError: Connection refused)') == 1, r.stderr
    assert 'upload_run' in r.stderr

@pytest.fixture
def server(tmp_path):
    port = free_port()
    exe = Path(sys.executable).parent/'mlflow'
    log = open(tmp_path/'server.log', 'w')   # a file, not a pipe: a server whose unread pipe fills up stops answering
    proc = subprocess.Popen([str(exe), 'server', '--host', '127.0.0.1', '--port', str(port), '--workers', '1',
                             '--backend-store-uri', f"sqlite:///{tmp_path/'server.db'}", '--artifacts-destination', str(tmp_path/'artifacts')],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url, t0 = f'http://127.0.0.1:{port}', time.time()
    while True:
        try:
            if urllib.request.urlopen(url + '/health', timeout=2).status == 200: break
        except OSError: pass
        assert proc.poll() is None, (tmp_path/'server.log').read_text()[-3000:]
        assert time.time() - t0 < 120, "mlflow server did not start"
        time.sleep(0.5)
    yield url
    os.killpg(proc.pid, signal.SIGTERM)   # the server and its workers
    try: proc.wait(timeout=20)
    except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait()
    log.close()

@pytest.mark.slow
def test_grid_on_a_tracking_server(run_main, shapes, tmp_path, server):
    cfg = tmp_path/'study.yaml'
    cfg.write_text(f"base: {{data: {shapes}, arch: resnet18, pretrained: false, epochs: 1, freeze_epochs: 0, size: 32, bs: 16}}\n"
                   "axes: {lr: [0.001, 0.003]}\n")
    r = run_main('grid', cfg, '--out', tmp_path/'study', '--mlflow', server)
    assert r.returncode == 0, r.stderr
    c, parent = the_run(server, 'study')
    assert parent.data.params['runs'] == '2' and parent.info.status == 'FINISHED'
    assert sorted(a.path for a in c.list_artifacts(parent.info.run_id)) == ['report.html', 'report.md', 'results.csv']
    kids = c.search_runs([parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(k.info.run_name for k in kids) == ['1e-3', '3e-3']
    for k in kids:
        h = pd.read_csv(tmp_path/'study'/k.info.run_name/'history.csv')
        got = c.get_metric_history(k.info.run_id, 'valid_loss')
        assert [m.value for m in got] == pytest.approx(h.valid_loss.tolist(), abs=1e-12)
        assert k.data.params['lr'] == {'1e-3': '0.001', '3e-3': '0.003'}[k.info.run_name]
        assert 'model.safetensors' in [a.path for a in c.list_artifacts(k.info.run_id)]
    results = c.download_artifacts(parent.info.run_id, 'results.csv', str(tmp_path/'dl'))
    assert Path(results).read_bytes() == (tmp_path/'study'/'results.csv').read_bytes()
