"""Writes docs/performance.md from the sections the benchmarks wrote (.build/bench/*.json), with
what the same benchmarks measured on the commit before the performance work (`--before`, the
*.before.json beside them), and the findings kept by hand in bench/findings.md."""

import argparse
import datetime
from pathlib import Path

from bench.figures import RESULTS, ROOT, Figure, Section, times, verdict

SECTIONS = ("cold_start", "deployed", "warm", "round_trips", "artifacts", "pipeline")
FINDINGS = ROOT / "bench" / "findings.md"
DOCUMENT = ROOT / "docs" / "performance.md"
COMMANDS = {
    "cold_start": "cold_start",
    "deployed": "deployed",
    "warm": "warm",
    "round_trips": "round_trips",
    "artifacts": "artifacts",
    "pipeline": "pipeline",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(section: Section) -> list[str]:
    columns = [*section.columns, "Goal", "Met", "Command"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for figure in section.figures:
        cells = [*figure.cells, figure.goal, verdict(figure.met), f"`{figure.command}`"]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return lines


def _shown(figure: Figure, name: str) -> str:
    if name == "pipeline":  # its baselines move with the machine: the measured value too
        ratio = f", {times(figure.value)}" if figure.value is not None else ""
        return f"{figure.cells[1]}{ratio}"
    if figure.value is None:
        return "—"
    if name == "artifacts":
        return (
            f"{figure.value / 1000:.1f} KB"
            if figure.value < 1_000_000
            else (f"{figure.value / 1_000_000:.2f} MB")
        )
    if name == "round_trips":
        return f"{figure.value:.0f} round trips"
    return times(figure.value)


def comparison(name: str, now: Section, before: Section | None) -> list[str]:
    if before is None:
        return []
    earlier = {figure.key: figure for figure in before.figures}
    rows = []
    for figure in now.figures:
        old = earlier.get(figure.key)
        if old is None or (figure.value is None and name != "pipeline"):
            continue
        label = figure.cells[0]
        rows.append(
            f"| {_cell(label)} | {_shown(old, name)} ({verdict(old.met)}) | "
            f"{_shown(figure, name)} ({verdict(figure.met)}) | {figure.goal} |"
        )
    if not rows:
        return []
    return [
        "",
        f"Commit {before.revision} (before the performance work, measured in the same "
        f"`make bench` with today's instruments) and {now.revision or 'this checkout'}:",
        "",
        "| Figure | Before | Now | Goal |",
        "|---|---|---|---|",
        *rows,
    ]


def document(results: Path) -> str:
    lines = [
        "# Performance",
        "",
        "Written by `make bench` (`python -m bench.report`); do not edit by hand: the findings "
        "come from bench/findings.md, the tables from the benchmarks.",
        "",
        "Every timing is a **ratio against a baseline measured in the same run**, on the same "
        "machine, with the runs interleaved: absolute times drift on a shared machine and mean "
        "little elsewhere. The benchmarks report and never fail a build on timing; round trips "
        "are counts, and `tests/integration/test_round_trips.py` pins them.",
        "",
    ]
    if FINDINGS.exists():
        lines += [FINDINGS.read_text().rstrip(), ""]
    for name in SECTIONS:
        path = results / f"{name}.json"
        if not path.exists():
            lines += [f"## {name}", "", f"Not measured in this run: `{_run(name)}`.", ""]
            continue
        section = Section.load(path)
        before_path = results / f"{name}.before.json"
        before = Section.load(before_path) if before_path.exists() else None
        machine = section.machine
        lines += [
            f"## {section.title}",
            "",
            section.intro,
            "",
            f"Run: `{_run(name)}` on {section.revision or 'this checkout'} (Python "
            f"{machine.get('python')}, {machine.get('cpus')} CPUs, "
            f"load {machine.get('load_1min')}).",
            "",
            *table(section),
            *comparison(name, section, before),
            "",
        ]
        lines += [f"- {note}" for note in section.notes]
        lines.append("")
    lines.append(f"_Generated {datetime.date.today().isoformat()}._")
    return "\n".join(lines) + "\n"


def _run(name: str) -> str:
    return f".venv/bin/python -m bench.{COMMANDS[name]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=DOCUMENT)
    options = parser.parse_args()
    options.out.write_text(document(options.results))
    print(f"written to {options.out}")


if __name__ == "__main__":
    main()
