"""Time every notebook under nbval in quick mode (the README's test command, one notebook at a time).

Target (DESIGN.md): the whole nbval suite in quick mode takes ≤ 15 min on 2 CPU cores.

    python benchmarks/bench_notebooks.py            # prints a Markdown table, writes benchmarks/results/notebooks.md
"""

import os
import subprocess
import sys
import time
from pathlib import Path

from report import publish

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 15 * 60


def main() -> int:
    rows, total = [], 0.0
    env = {**os.environ, "COLORLAB_QUICK": "1"}
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", str(notebook.relative_to(ROOT))],
                                cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        total += seconds
        rows.append(f"| {notebook.name} | {seconds:.0f} | {'pass' if result.returncode == 0 else 'FAIL'} |")
    lines = ["| notebook | seconds (quick mode, nbval) | result |", "| --- | ---: | --- |", *rows,
             f"| **all notebooks** | **{total:.0f}** | target ≤ {TARGET_S} s: ratio {total / TARGET_S:.2f} |",
             "", f"machine: {os.cpu_count()} CPU cores"]
    publish("notebooks", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
