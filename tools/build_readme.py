#!/usr/bin/env python
"""Write README.md from nbs/index.ipynb, offline.

`nbdev-readme` renders through Quarto, which cannot be installed on offline machines; this does the
same job with nbconvert: hidden cells are dropped, `#|` directives removed, and the notebook rendered
to Markdown. `--check` exits 1 (and writes nothing) when README.md is out of date.
"""
import re, sys
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parent.parent

def _directives(src:str) -> set:
    return {l[3:].strip().split()[0] for l in src.splitlines() if l.startswith('#| ') and l[3:].strip()}

def render(nb_path:Path=ROOT/'nbs'/'index.ipynb') -> str:
    nb = nbformat.read(nb_path, as_version=4)
    keep = []
    for cell in nb.cells:
        if cell.cell_type == 'code':
            if _directives(cell.source) & {'hide', 'exporti', 'export'}: continue
            cell.source = '\n'.join(l for l in cell.source.splitlines() if not l.startswith('#|')).strip()
            cell.outputs = [o for o in cell.outputs if o.get('output_type') != 'stream' or o.get('name') != 'stderr']
            for o in cell.outputs:  # fastprogress ships a <style> block with its table; GitHub shows it as text
                html = o.get('data', {}).get('text/html')
                if html: o['data']['text/html'] = re.sub(r'<style>.*?</style>', '', ''.join(html), flags=re.S).strip()
        keep.append(cell)
    nb.cells = keep
    nb.metadata['language_info'] = {'name': 'python'}  # fenced code gets python highlighting
    body, _ = MarkdownExporter(exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    note = '<!-- WARNING: generated from nbs/index.ipynb by tools/build_readme.py; edit the notebook, not this file -->\n\n'
    return note + body.strip() + '\n'

def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text, readme = render(), ROOT/'README.md'
    if '--check' in argv:
        if not readme.exists() or readme.read_text() != text:
            print("README.md is out of date with nbs/index.ipynb: run `python tools/build_readme.py`", file=sys.stderr)
            return 1
        return 0
    tmp = readme.with_suffix('.md.tmp')
    tmp.write_text(text); tmp.replace(readme)
    return 0

if __name__ == '__main__': sys.exit(main())
