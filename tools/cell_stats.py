#!/usr/bin/env python
"""Size of the code, as a reviewer reads it: the longest functions of the package and the lengths of the
notebooks' export cells (nbdev's own notebooks keep export cells around 10 lines).

Usage: python tools/cell_stats.py [REV ...]   # the working tree, and each git revision given, side by side
"""
import ast, json, statistics, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def _files(rev, folder, suffix):
    "{path: text} of the files under `folder` ending in `suffix`, in the working tree (rev None) or at git revision `rev`."
    if rev is None: return {str(p.relative_to(ROOT)): p.read_text() for p in sorted((ROOT/folder).glob(f'*{suffix}'))}
    names = subprocess.run(['git', 'ls-tree', '--name-only', f'{rev}:{folder}'], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return {f'{folder}/{n}': subprocess.run(['git', 'show', f'{rev}:{folder}/{n}'], cwd=ROOT, capture_output=True, text=True, check=True).stdout
            for n in names if n.endswith(suffix)}

def functions(rev=None) -> list:
    "(lines, name) of every function in the package, longest first."
    out = []
    for path, text in _files(rev, 'transferlab', '.py').items():
        if Path(path).name.startswith('_'): continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.append((node.end_lineno - node.lineno + 1, f"{Path(path).stem}.{node.name}"))
    return sorted(out, reverse=True)

def export_cells(rev=None) -> list:
    "Lines of code in each `#| export` cell of the notebooks."
    out = []
    for path, text in _files(rev, 'nbs', '.ipynb').items():
        for c in json.loads(text)['cells']:
            src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
            lines = src.splitlines()
            if c['cell_type'] == 'code' and lines and lines[0].strip().replace(' ', '') in ('#|export', '#|exporti'):
                out.append(len([l for l in lines[1:] if l.strip()]))
    return out

def main(argv):
    revs = [None] + argv
    print(f"{'':<28}" + ''.join(f"{r or 'working tree':>20}" for r in revs))
    stats = [(functions(r), export_cells(r)) for r in revs]
    print(f"{'longest function (lines)':<28}" + ''.join(f"{f[0][0]:>20}" for f, _ in stats))
    print(f"{'  which':<28}" + ''.join(f"{f[0][1][-19:]:>20}" for f, _ in stats))
    print(f"{'functions over 40 lines':<28}" + ''.join(f"{sum(n > 40 for n, _ in f):>20}" for f, _ in stats))
    print(f"{'export cells':<28}" + ''.join(f"{len(c):>20}" for _, c in stats))
    print(f"{'median export cell (lines)':<28}" + ''.join(f"{statistics.median(c):>20}" for _, c in stats))
    print(f"{'export cells over 30 lines':<28}" + ''.join(f"{sum(n > 30 for n in c):>20}" for _, c in stats))

if __name__ == '__main__': main(sys.argv[1:])
