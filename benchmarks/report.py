"""Shared by the benchmark scripts: print a Markdown report and keep it in benchmarks/results/NAME.md."""

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def publish(name: str, lines: list[str]) -> str:
    """Prints the report made of ``lines`` and writes it to ``benchmarks/results/<name>.md``; returns the text."""
    report = "\n".join(lines)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(report + "\n")
    return report
