"""A grid on a local Ray with two workers (one CPU per run on this 2-core machine): four runs, one worker killed
with SIGKILL mid-run. The killed run is recorded as failed (not retried: see `transferlab.lab`), the other three
finish, only the driver writes results.csv, and a second call trains only the killed run."""
import os, signal, threading, time
from pathlib import Path
import pytest

ray = pytest.importorskip('ray')

def _kill_first_task(found:dict, timeout:float=300):
    "SIGKILL the first Ray worker seen running a transferlab task (its process title is `ray::transferlab:<id>`)."
    t0 = time.time()
    while time.time() - t0 < timeout:
        for p in Path('/proc').iterdir():
            if not p.name.isdigit(): continue
            try: title = (p/'cmdline').read_bytes().split(b'\0')[0].decode(errors='replace')
            except OSError: continue
            if title.startswith('ray::transferlab:'):
                found['id'] = title.split(':', 3)[-1].strip()
                time.sleep(1.0)   # let it get going
                os.kill(int(p.name), signal.SIGKILL)
                return
        time.sleep(0.05)

@pytest.mark.slow
def test_ray_grid_survives_a_killed_worker(shapes, tmp_path):
    from transferlab.lab import grid, run_grid, read_results
    exps = grid(dict(data=str(shapes), arch='resnet18', pretrained=False, epochs=2, freeze_epochs=0, size=32, bs=16),
                lr=[1e-3, 2e-3, 3e-3, 4e-3])
    found = {}
    killer = threading.Thread(target=_kill_first_task, args=(found,), daemon=True); killer.start()
    res = run_grid(exps, tmp_path/'study', executor='ray', cpus_per_run=1)
    killer.join(timeout=1)
    assert 'id' in found, "no Ray task was seen running"
    assert res.id.tolist() == [e.id for e in exps]
    status = dict(zip(res.id, res.status))
    assert status[found['id']].startswith('failed: the Ray worker running it died'), status
    assert sorted(s for i, s in status.items() if i != found['id']) == ['done'] * 3, status
    on_disk = read_results(tmp_path/'study'/'results.csv')
    assert len(on_disk) == 4 and not list((tmp_path/'study').glob('*.tmp'))
    stamps = {i: (tmp_path/'study'/i/'result.json').stat().st_mtime_ns for i, s in status.items() if s == 'done'}
    again = run_grid(exps, tmp_path/'study', executor='ray', cpus_per_run=1)   # retries exactly the killed run
    assert again.status.tolist() == ['done'] * 4
    assert {i: (tmp_path/'study'/i/'result.json').stat().st_mtime_ns for i in stamps} == stamps
