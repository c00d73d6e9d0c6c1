"""The documentation site, built offline (`tools/build_docs.py`) and opened in headless Chromium.

Every page must load without console errors or failed requests, every image must have decoded,
every sidebar link must resolve, and every public function and class must be documented on some page.
Screenshots of the index and the interpret page are saved under `artifacts/screenshots/` for review.
Skipped, loudly, only when Chromium is not installed (`.ci/run` installs Debian's `chromium`).
"""
import functools, http.server, importlib, inspect, re, sys, threading, warnings
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.stem for p in (ROOT/'nbs').glob('[0-9]*.ipynb'))
PAGES = ['index.html'] + [re.sub(r'^\d+[a-z]?_', '', n) + '.html' for n in NOTEBOOKS]
MODULES = [p.stem for p in sorted((ROOT/'transferlab').glob('*.py')) if not p.name.startswith('_')]
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions']

from conftest import chromium as _chromium, run_process

pytestmark = pytest.mark.slow   # builds the whole site: the full suite runs it, the quick tier does not

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "Build the site with the documented command, into a temporary folder."
    out = tmp_path_factory.mktemp('docs')/'_site'
    r = run_process([sys.executable, ROOT/'tools'/'build_docs.py', '--out', out], 600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out

@pytest.fixture(scope='module')
def server(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args): pass
    handler = functools.partial(Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()

@pytest.fixture(scope='module')
def browser():
    exe = _chromium()
    if not exe:
        msg = ("CHROMIUM NOT FOUND: the docs browser test did NOT run. Install Debian's chromium "
               "(apt-get install chromium; .ci/run does) or set TRANSFERLAB_CHROMIUM to a Chromium binary.")
        warnings.warn(msg); print(f"\n{'!'*20} {msg}", file=sys.stderr)
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS)
        yield b
        b.close()

def _public_callables():
    names = {}
    for m in MODULES:
        mod = importlib.import_module(f'transferlab.{m}')
        for n in mod.__all__:
            obj = getattr(mod, n)
            if inspect.isfunction(obj) or inspect.isclass(obj): names[f'{m}.{n}'] = n
    return names

def test_site_pages_in_sidebar_order(site):
    order = PAGES
    html = (site/'index.html').read_text()
    nav = html.split('<nav class="sidebar">')[1].split('</nav>')[0]
    positions = [nav.index(f'href="{p}"') for p in order]
    assert positions == sorted(positions), positions
    for p in order: assert (site/p).is_file(), p

def test_every_page_in_chromium(site, server, browser):
    page = browser.new_page(viewport={'width': 1280, 'height': 900})
    problems, headings, shots = {}, set(), ROOT/'artifacts'/'screenshots'
    shots.mkdir(parents=True, exist_ok=True)
    errors = []
    page.on('console', lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == 'error' else None)
    page.on('pageerror', lambda e: errors.append(f"page error: {e}"))
    page.on('requestfailed', lambda r: errors.append(f"request failed: {r.url} ({r.failure})"))
    page.goto(f"{server}/index.html", wait_until='load')
    links = page.eval_on_selector_all('nav.sidebar ul a', 'els => els.map(e => e.getAttribute("href"))')
    assert len(links) == len(PAGES), links
    for href in links:
        errors.clear()
        resp = page.goto(f"{server}/{href}", wait_until='load')
        assert resp is not None and resp.status == 200, f"sidebar link {href} does not resolve"
        imgs = page.eval_on_selector_all('img', 'els => els.map(e => [e.getAttribute("alt") || e.src.slice(0, 40), e.complete, e.naturalWidth])')
        broken = [i for i in imgs if not (i[1] and i[2] > 0)]
        headings |= set(page.eval_on_selector_all('h2, h3, h4', "els => els.map(e => e.textContent.replace('\\u00b6', '').trim())"))
        if errors or broken: problems[href] = errors[:] + [f"image not loaded: {b[0]}" for b in broken]
        if href in ('index.html', 'interpret.html'): page.screenshot(path=str(shots/href.replace('.html', '.png')), full_page=href == 'index.html')
    assert not problems, problems
    # every page that should show plots shows them
    for href, n in {'data.html': 3, 'interpret.html': 10, 'lab.html': 2, 'recipes.html': 1, 'cli.html': 2}.items():
        page.goto(f"{server}/{href}", wait_until='load')
        assert page.eval_on_selector_all('img', 'els => els.filter(e => e.naturalWidth > 0).length') >= n, href
    missing = [q for q, n in _public_callables().items() if n not in headings]
    assert not missing, f"public names without documentation on any page: {missing}"
    assert (shots/'index.png').stat().st_size > 10_000 and (shots/'interpret.png').stat().st_size > 10_000

NOISE = [(r'<function \w+ at 0x', 'a function repr'), (r'\bobject at 0x[0-9a-f]+', 'an object repr'), (r'\bat 0x[0-9a-f]{6,}', 'a memory address'),
         (r'(?i)\bseed[ -]?00\d|\bthe seeds\b', 'the project\'s history ("seed 001") instead of what a thing does')]

def test_no_noise_on_any_page(site):
    "No object reprs and no absolute paths of the machine that built the site (temporary folders, home, the checkout)."
    machine = [re.escape(p) for p in {str(ROOT), str(Path.home()), '/tmp/', '/var/tmp/', 'site-packages'}]
    found = {}
    for page in PAGES:
        text = (site/page).read_text()
        hits = [what for pat, what in NOISE if re.search(pat, text)]
        hits += [f"machine path {m}" for m in machine if re.search(m, text)]
        if hits: found[page] = hits
    assert not found, found
