"""Build the documentation site offline into `_site/`: the pages Quarto builds on GitHub, without Quarto.

1. nbdev's own processing (`proc_nbs`, what `nbdev-docs` runs before Quarto): hidden cells dropped,
   `show_doc` cells executed and rendered, doc links added; the processed notebooks land in `_proc/`.
2. nbconvert's HTML exporter (its `basic` template, no CDN scripts) turns each processed notebook into
   a page body; pages get the sidebar in nbdev's sidebar order (`nbs/sidebar.yml`) and the index is
   the landing page.

Usage: python tools/build_docs.py [--out _site] [--skip-proc]
"""
import argparse, html, json, os, re, shutil, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def process_notebooks(n_workers:int=2) -> Path:
    "Run nbdev's docs processing (no Quarto needed) and return the `_proc` folder."
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    from nbdev.serve import proc_nbs
    import nbdev.doclinks
    os.chdir(ROOT)
    refresh_quarto_yml()
    nbdev.doclinks._build_modidx()
    nbdev_sidebar.__wrapped__()
    return proc_nbs(n_workers=n_workers)

def sidebar_order(proc:Path) -> list:
    "Notebook names in the sidebar's order (nbdev writes it to sidebar.yml)."
    import yaml
    cfg = yaml.safe_load((proc/'sidebar.yml').read_text())
    return [c if isinstance(c, str) else c.get('href') for c in cfg['website']['sidebar']['contents']]

def _frontmatter(nb:dict) -> dict:
    import yaml
    raw = next((c for c in nb['cells'] if c['cell_type'] == 'raw' and ''.join(c['source']).startswith('---')), None)
    if raw is None: return {}
    nb['cells'].remove(raw)
    return yaml.safe_load(''.join(raw['source']).strip().strip('-')) or {}

CELL_KEYS = dict(code={'cell_type', 'id', 'metadata', 'source', 'outputs', 'execution_count'},
                 markdown={'cell_type', 'id', 'metadata', 'source', 'attachments'}, raw={'cell_type', 'id', 'metadata', 'source', 'attachments'})
DIRECTIVE = re.compile(r'^#\|\s*([\w-]+)\s*:?\s*(.*)$')

def _prepare(nb:dict, site_url:str) -> dict:
    "Turn Quarto cell options into what nbconvert understands, and online doc links into relative ones."
    cells = []
    for c in nb['cells']:
        c = {k: v for k, v in c.items() if k in CELL_KEYS[c['cell_type']]}   # nbdev leaves working keys (has_sd, ...)
        c['metadata'] = {k: v for k, v in c.get('metadata', {}).items() if k in ('tags',)}   # and timings nbformat rejects
        src = ''.join(c['source'])
        if c['cell_type'] == 'code':
            lines = src.splitlines()
            opts = dict(DIRECTIVE.match(l).groups() for l in lines if DIRECTIVE.match(l))
            if opts.get('include') == 'false' or 'hide' in opts: continue
            c['source'] = '\n'.join(l for l in lines if not DIRECTIVE.match(l)).strip('\n')
            tags = c.setdefault('metadata', {}).setdefault('tags', [])
            if opts.get('echo') == 'false' or not c['source'].strip(): tags.append('remove_input')
            if opts.get('output') == 'false': tags.append('remove_output')
            for o in c.get('outputs', []):
                md = o.get('data', {}).get('text/markdown')
                if md is not None: o['data']['text/markdown'] = _links(''.join(md), site_url)   # show_doc's output
        elif c['cell_type'] == 'markdown':
            c['source'] = _links(src, site_url)
        cells.append(c)
    nb['cells'] = cells
    return nb

def _links(md:str, site_url:str) -> str:
    md = re.sub(r'\)\{[^}\n]*\}', ')', md)                     # Quarto link attributes: [source](url){target=...}
    md = re.sub(r'^:::.*$', '', md, flags=re.M)                   # Quarto callout fences
    if site_url: md = md.replace(site_url.rstrip('/') + '/', '')  # doc links to this site become relative
    return md

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – transferlab</title><meta name="description" content="{desc}">
<link rel="stylesheet" href="site.css"></head>
<body><nav class="sidebar"><a class="brand" href="index.html">transferlab</a><ul>{nav}</ul></nav>
<main><h1 class="title">{title}</h1><p class="description">{desc}</p>
{body}
</main></body></html>
"""

CSS = """body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;line-height:1.5;color:#212529;display:flex}
.sidebar{position:sticky;top:0;height:100vh;overflow:auto;min-width:13rem;padding:1rem;background:#f7f7f9;border-right:1px solid #dee2e6;box-sizing:border-box}
.sidebar .brand{font-weight:700;font-size:1.2rem;color:#2780e3;text-decoration:none}.sidebar ul{list-style:none;padding:0}
.sidebar li a{display:block;padding:.25rem .5rem;color:#343a40;text-decoration:none;border-radius:4px}.sidebar li a.active{background:#2780e3;color:#fff}
main{max-width:62rem;padding:1rem 2rem;min-width:0}.description{color:#6c757d;font-size:1.1rem}
pre{background:#f8f9fa;padding:.6rem;overflow:auto;border-radius:4px;font-size:.85rem}img{max-width:100%}
table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #dee2e6;padding:.2rem .5rem}
.jp-InputPrompt,.jp-OutputPrompt,.prompt{display:none}.jp-Cell{margin:.6rem 0}
.anchor-link{visibility:hidden;margin-left:.3rem;text-decoration:none}h2:hover .anchor-link,h3:hover .anchor-link{visibility:visible}
"""

def build(out:Path, skip_proc:bool=False, n_workers:int=2) -> list:
    "Build the site into `out`; returns the pages written, in sidebar order."
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from pygments.formatters import HtmlFormatter
    import nbformat
    from nbdev.config import get_config
    proc = ROOT/'_proc' if skip_proc else process_notebooks(n_workers)
    site_url = get_config().get('doc_host', '') + get_config().get('doc_baseurl', '')
    exporter = HTMLExporter(template_name='basic')
    tags = TagRemovePreprocessor(remove_input_tags={'remove_input'}, remove_cell_tags={'remove_cell'}, remove_all_outputs_tags={'remove_output'})
    exporter.register_preprocessor(tags, enabled=True)
    pages = []
    for name in sidebar_order(proc):
        nb = json.loads((proc/name).read_text())
        fm = _frontmatter(nb)
        dest = fm.get('output-file') or Path(name).with_suffix('.html').name
        if Path(name).stem == 'index': dest = 'index.html'
        body, _ = exporter.from_notebook_node(nbformat.reads(json.dumps(_prepare(nb, site_url)), as_version=4))   # reads joins multi-line strings
        pages.append(dict(file=dest, title=fm.get('title', Path(name).stem), desc=fm.get('description', ''), body=body))
    tmp = Path(tempfile.mkdtemp(prefix='.site.', dir=out.parent if out.parent.exists() else None))
    try:
        for p in pages:
            nav = ''.join(f'<li><a href="{q["file"]}"{" class=active" if q is p else ""}>{html.escape(q["title"])}</a></li>' for q in pages)
            (tmp/p['file']).write_text(PAGE.format(title=html.escape(p['title']), desc=html.escape(p['desc']), nav=nav, body=p['body']))
        (tmp/'site.css').write_text(CSS + HtmlFormatter().get_style_defs('.highlight'))
        tmp.chmod(0o755)   # mkdtemp makes it private; a site is for reading
        if out.exists(): shutil.rmtree(out)
        os.replace(tmp, out)
    finally: shutil.rmtree(tmp, ignore_errors=True)
    return [p['file'] for p in pages]

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=str(ROOT/'_site'), help='where to write the site (default: _site/)')
    ap.add_argument('--skip-proc', action='store_true', help='reuse _proc/ from an earlier build')
    ap.add_argument('--workers', type=int, default=2, help='processes for nbdev\'s notebook processing')
    a = ap.parse_args()
    files = build(Path(a.out).resolve(), a.skip_proc, a.workers)
    print(f"{len(files)} pages -> {a.out}: {', '.join(files)}")
