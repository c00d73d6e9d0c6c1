"""`transferlab serve` as a person uses it: start it on a free port, open it in headless Chromium, upload an
image, read the predicted label, and stop it. The screenshot lands in artifacts/screenshots/app.png."""
import signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip('gradio', reason='the app needs the [app] extra (the [dev] extra includes it)')

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

from conftest import chromium as _chromium, interruptible

@pytest.fixture(scope='module')
def model(run_main, tmp_path_factory):
    from transferlab.datasets import shapes_folder
    d = tmp_path_factory.mktemp('app')
    data = shapes_folder(d/'shapes', n_per_class=10, size=48)
    r = run_main('train', data, '--no-pretrained', '--arch', 'resnet18', '--size', '32', '--bs', '16', '--epochs', '2', '--lr', '3e-3',
            '--no-report', '--out', d/'run')
    assert r.returncode == 0, r.stderr
    return d/'run', data

@pytest.mark.slow
def test_app_in_chromium(model, tmp_path):
    exe = _chromium()
    if not exe: pytest.skip("Chromium not found (apt-get install chromium; .ci/run does)")
    run, data = model
    img = sorted((data/'star').iterdir())[0]
    from transferlab.persist import load_classifier
    from transferlab.predict import predict_image
    expected = predict_image(load_classifier(run/'model'), img)[0]
    port = _free_port()
    p = subprocess.Popen([str(Path(sys.executable).parent/'transferlab'), 'serve', str(run), '--port', str(port)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    try:
        url, deadline = f"http://127.0.0.1:{port}/", time.time() + 180
        while time.time() < deadline:
            try:
                urllib.request.urlopen(url, timeout=2); break
            except OSError: time.sleep(0.5)
            assert p.poll() is None, p.stderr.read()
        from playwright.sync_api import sync_playwright
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=exe, args=['--headless', '--no-sandbox', '--disable-gpu'])
            page = b.new_page(viewport={'width': 1280, 'height': 900})
            page.goto(url, wait_until='networkidle')
            page.set_input_files('input[type=file]', str(img))
            page.get_by_role('button', name='Submit').click()
            try: page.wait_for_selector('[data-testid="label-output-value"]', timeout=120_000)
            except Exception:
                shots = ROOT/'artifacts'/'screenshots'; shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shots/'app-failed.png'), full_page=True)
                p.send_signal(signal.SIGINT)
                raise AssertionError(f"no prediction shown; the server said: {p.communicate(timeout=30)[1][-3000:]}")
            shown = page.inner_text('[data-testid="label-output-value"]').strip()
            page.wait_for_timeout(500)
            shots = ROOT/'artifacts'/'screenshots'; shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots/'app.png'), full_page=True)
            b.close()
        assert shown == expected, (shown, expected)
        p.send_signal(signal.SIGINT)   # Ctrl-C: stops promptly, exit 130
        _, err = p.communicate(timeout=30)
        assert p.returncode == 130 and 'transferlab serve: interrupted; stopped' in err, (p.returncode, err[-2000:])
    finally:
        p.send_signal(signal.SIGINT)
        try: p.communicate(timeout=30)
        except subprocess.TimeoutExpired: p.kill()

def test_app_refuses_bad_uploads_before_decoding(model, tmp_path):
    "What a browser can send: a non-image, a file over the size limit, a decompression bomb; each refused with `predict`'s message, naming the upload."
    from PIL import Image
    from transferlab.app import make_app
    run, data = model
    app = make_app(run, max_upload_mb=1)
    fn = app.fns[0].fn if hasattr(app, 'fns') and not isinstance(app.fns, dict) else next(iter(app.fns.values())).fn
    (tmp_path/'notes.jpg').write_text('not an image')
    (tmp_path/'big.jpg').write_bytes(b'\xff' * 1_500_000)
    Image.new('1', (12000, 12000)).save(tmp_path/'bomb.png')
    import gradio as gr
    for name, msg in (('notes.jpg', 'notes.jpg: cannot read image'), ('big.jpg', "big.jpg: 1.5 MB, over this app's 1 MB limit"),
                      ('bomb.png', 'bomb.png: image too large: 12000x12000 pixels')):
        with pytest.raises(gr.Error, match=msg.replace('.', r'\.')): fn(str(tmp_path/name))
    top, over = fn(str(sorted((data/'star').iterdir())[0]))
    assert len(top) == 5 and over.shape == (32, 32, 3)

def test_serve_refuses_bad_options(run_main, model):
    run, _ = model
    r = run_main('serve', run, '--port', '0')
    assert r.returncode == 1 and '--port 0: must be a whole number at least 1 and at most 65535' in r.stderr
    r = run_main('serve', run.parent/'nowhere')
    assert r.returncode == 1 and 'no such model' in r.stderr
