#!/usr/bin/env python
"""Time `transferlab demo` with its defaults against the brief's target (>= 0.90 accuracy in <= 180 s on 2 CPU cores).

Runs the installed console script in a subprocess with a fresh dataset cache (generation included),
then prints one table: measured value, target and their ratio.
Usage: python bench/demo.py [extra demo options]
"""
import json, os, subprocess, sys, tempfile, time
from pathlib import Path

def main():
    exe = Path(sys.executable).parent/'transferlab'
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, 'TRANSFERLAB_HOME': home, 'PYTHONWARNINGS': 'ignore'}
        t = time.perf_counter()
        r = subprocess.run([str(exe), 'demo', '--out', f'{home}/out', *sys.argv[1:]], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if r.returncode: sys.exit(f"demo failed:\n{r.stderr}")
        m = json.loads(Path(f'{home}/out/metrics.json').read_text())
    rows = [('wall seconds (imports + data + training)', wall, 180.0, wall/180), ('validation accuracy', m['accuracy'], 0.90, m['accuracy']/0.90)]
    print(f"{'measure':<42}{'measured':>10}{'target':>10}{'ratio':>8}")
    for name, v, target, ratio in rows: print(f"{name:<42}{v:>10.3f}{target:>10.3f}{ratio:>8.2f}")
    print(f"cpus={os.cpu_count()} arch={m['arch']} size={m['size']} epochs={m['epochs']} n_train={m['n_train']} model_mb={m['model_mb']}")

if __name__ == '__main__': main()
