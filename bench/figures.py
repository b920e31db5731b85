"""What every benchmark shares: statistics, ratios against the run's own baseline, and the
section each script writes for the report."""

import argparse
import io
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / ".build" / "bench"
PYTHON = ".venv/bin/python"


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: a value that was measured, never an interpolation."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return float(ordered[rank - 1])


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else math.inf


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def us(seconds: float) -> str:
    return f"{seconds * 1_000_000:.0f} µs"


def times(value: float) -> str:
    return f"{value:.2f}x"


def verdict(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "—"}[met]


@dataclass
class Figure:
    """One row of a section's table, and the number the before/after comparison keeps."""

    key: str  # stable across runs: the before/after table matches on it
    cells: list[str]  # the row as shown, in the section's columns
    value: float | None  # the compared number (a ratio, a count, a size)
    goal: str
    met: bool | None
    command: str


@dataclass
class Section:
    name: str  # the script: bench.<name>
    title: str
    intro: str
    columns: list[str]  # before Goal, Met and Command, which every table ends with
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)
    revision: str = ""  # the commit measured

    def add(self, figure: Figure) -> None:
        if len(figure.cells) != len(self.columns):
            raise ValueError(f"{figure.key}: {len(figure.cells)} cells for {self.columns}")
        self.figures.append(figure)

    def save(self, directory: Path = RESULTS) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        self.machine = self.machine or machine()
        self.revision = self.revision or revision()
        path = directory / f"{self.name}.json"
        path.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> "Section":
        data = json.loads(path.read_text())
        figures = [Figure(**figure) for figure in data.pop("figures")]
        return cls(**data, figures=figures)


def machine() -> dict[str, Any]:
    """Where the figures were measured: absolute times mean little elsewhere, ratios travel."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_1min": round(load, 2) if load is not None else None,
        "platform": platform.platform(terse=True),
    }


def revision() -> str:
    """The commit of the checkout measured, with `+changes` when files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 (git from the PATH)
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""  # a tree extracted by before_tree: its caller knows the commit
    return head + ("+changes" if changed else "")


def command(script: str, *arguments: str) -> str:
    """The shell command that reproduces a figure, from the repository's root."""
    return " ".join([PYTHON, "-m", f"bench.{script}", *arguments])


def arguments(description: str) -> argparse.ArgumentParser:
    """The options every benchmark takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the section")
    parser.add_argument("--only", action="append", default=[], help="measure only these figures")
    parser.add_argument(
        "--before",
        metavar="COMMIT",
        help="also measure this commit (with today's bench/), for the before/after table",
    )
    return parser


# Today's instruments, copied into an older tree so that it is measured the same way.
INSTRUMENTS = ("bench", "tests/integration/test_round_trips.py")


def before_tree(commit: str) -> Path:
    """The repository at `commit` (git archive), with today's bench/ and round-trip counters in
    it, and the layer cache of .build/ shared. Extracted once per commit, under .build/bench/."""
    tree = RESULTS / f"tree-{commit}"
    done = tree / ".extracted"
    if not done.exists():
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", commit],  # noqa: S607 (git from the PATH, as make uses it)
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
        done.touch()
    for instrument in INSTRUMENTS:
        source, target = ROOT / instrument, tree / instrument
        if source.is_dir():
            ignored = shutil.ignore_patterns("__pycache__")
            shutil.copytree(source, target, dirs_exist_ok=True, ignore=ignored)
        else:
            shutil.copy2(source, target)
    (tree / ".build").mkdir(exist_ok=True)
    for layer in (ROOT / ".build").glob("layer-*.zip"):  # built from the same requirements
        if not (tree / ".build" / layer.name).exists():
            shutil.copy2(layer, tree / ".build" / layer.name)
    return tree


def measure_before(name: str, commit: str, *options: str) -> "Section":
    """Run benchmark `name` on the tree of `commit`, in a process of its own; its section."""
    tree = before_tree(commit)
    out = tree / ".build" / "bench-before"
    subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--out", str(out), *options],
        cwd=tree,
        check=True,
    )
    before = Section.load(out / f"{name}.json")
    before.revision = commit
    return before


def save_with_before(section: "Section", before: "Section | None", directory: Path) -> Path:
    """Write the section, and what the same benchmark measured on the earlier commit."""
    if before is not None:
        before.name = f"{section.name}.before"
        before.save(directory)
    return section.save(directory)


def before_of(name: str, options: argparse.Namespace, *extra: str) -> "Section | None":
    """Benchmark `name` on `--before`'s commit, with the same `--only` figures; None without."""
    if not options.before:
        return None
    only = (f"--only={item}" for item in options.only)
    return measure_before(name, options.before, *extra, *only)


def finish(
    section: "Section", before: "Section | None", directory: Path, line: Callable[["Figure"], str]
) -> None:
    """Save the section (and its before), print one line per figure and where it went."""
    path = save_with_before(section, before, directory)
    for figure in section.figures:
        print(line(figure))
    print(f"written to {path}")
