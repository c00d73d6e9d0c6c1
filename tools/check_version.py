#!/usr/bin/env python
"""The release workflow's first step: the pushed tag (v0.2.0) must be the package's version (transferlab.__version__).

Usage: python tools/check_version.py TAG      exit 0 when they match, else 1 with one line saying both."""
import ast, sys
from pathlib import Path

def package_version(root:Path=Path(__file__).resolve().parent.parent) -> str:
    "`__version__` of transferlab/__init__.py, read without importing the package (any quoting)."
    for node in ast.parse((root/'transferlab'/'__init__.py').read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '__version__' for t in node.targets): return node.value.value
    raise SystemExit("transferlab/__init__.py has no __version__")

def main(tag:str) -> int:
    v = package_version()
    if tag != f"v{v}":
        print(f"tag {tag} does not match transferlab.__version__ {v} (push the tag v{v}, or bump the version first)", file=sys.stderr)
        return 1
    print(f"tag {tag} is transferlab {v}")
    return 0

if __name__ == '__main__': sys.exit(main(sys.argv[1]) if len(sys.argv) == 2 else (print(__doc__, file=sys.stderr), 2)[1])
