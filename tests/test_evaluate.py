"""`transferlab evaluate` end to end: on the validation folder of a `train` run (a `train/` + `valid/` folder, which
`train` uses as its split) it reproduces the run's validation accuracy exactly, and the reports both commands write
open in Chromium with every image loaded."""
import json, shutil
from pathlib import Path
import pandas as pd
import pytest
from conftest import TINY, chromium as _chromium

def _images_loaded(exe, html:Path) -> tuple:
    "(images on the page, images that loaded) for `html` opened from disk in headless Chromium."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=['--headless', '--no-sandbox', '--disable-gpu'])
        page = b.new_page()
        page.goto(html.as_uri(), wait_until='load')
        n, ok = page.eval_on_selector_all('img', 'els => [els.length, els.filter(e => e.complete && e.naturalWidth > 0).length]')
        b.close()
    return n, ok

@pytest.mark.slow
def test_evaluate_reproduces_train_and_reports_open(run_main, tmp_path):
    from transferlab.datasets import shapes_folder
    shapes = shapes_folder(tmp_path/'shapes', n_per_class=16, size=40)
    data = tmp_path/'data'
    for cls in sorted(p for p in shapes.iterdir() if p.is_dir()):
        files = sorted(cls.iterdir())
        for part, chunk in (('train', files[:12]), ('valid', files[12:])):
            (data/part/cls.name).mkdir(parents=True, exist_ok=True)
            for f in chunk: shutil.copy(f, data/part/cls.name/f.name)
    r = run_main('train', data, *TINY, '--epochs', '2', '--out', tmp_path/'run')
    assert r.returncode == 0, r.stderr
    res, h = json.loads((tmp_path/'run'/'result.json').read_text()), pd.read_csv(tmp_path/'run'/'history.csv')
    assert res['adjusted']['before']['accuracy'] == pytest.approx(h.accuracy.max(), abs=1e-6)   # the best epoch is the model that was kept
    kept = res['adjusted']['after']['accuracy']   # with the logit shift tuned for the metric (none on balanced classes)
    e = run_main('evaluate', tmp_path/'run', data/'valid', '--out', tmp_path/'ev')
    assert e.returncode == 0, e.stderr
    m = json.loads((tmp_path/'ev'/'metrics.json').read_text())
    assert m['accuracy'] == pytest.approx(kept, abs=1e-6), (m['accuracy'], kept, res['best'])
    exe = _chromium()
    if not exe: pytest.skip("Chromium not found (apt-get install chromium; .ci/run does)")
    for html in (tmp_path/'run'/'report.html', tmp_path/'ev'/'report.html'):
        n, ok = _images_loaded(exe, html)
        assert n >= 4 and ok == n, (html, n, ok)
