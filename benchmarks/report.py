"""Shared by the benchmark scripts: print a Markdown report and keep it in benchmarks/results/NAME.md."""

import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def publish(name: str, lines: list[str]) -> str:
    """Prints the report made of ``lines`` and writes it to ``benchmarks/results/<name>.md``; returns the text."""
    report = "\n".join(lines)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(report + "\n")
    return report


def median_time(fn, repeats: int) -> float:
    """Median wall-clock seconds of ``repeats`` calls of ``fn()`` (warm it up first: tracing is not timed here)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
