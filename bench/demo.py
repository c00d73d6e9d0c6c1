#!/usr/bin/env python
"""Time `transferlab demo` with its defaults against its targets (>= 0.80 accuracy in <= 150 s on 2 CPU cores).

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
    rows = [('wall seconds (imports + data + training)', wall, 150.0, wall/150), ('validation accuracy', m['accuracy'], 0.80, m['accuracy']/0.80)]
    print(f"{'measure':<42}{'measured':>10}{'target':>10}{'ratio':>8}")
    for name, v, target, ratio in rows: print(f"{name:<42}{v:>10.3f}{target:>10.3f}{ratio:>8.2f}")
    print(f"cpus={os.cpu_count()} arch={m['arch']} pretrained={m['pretrained']} size={m['size']} epochs={m['epochs']} kept epoch={m['kept_epoch']}")

if __name__ == '__main__': main()
