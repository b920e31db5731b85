"""What is deployed: the size of each function's code archive and of the dependency layers.

Built with infra/packaging.py exactly as `pulumi up` builds them (the layers with pip for the
Lambda platform, cached in .build/ under a key of their inputs), with bytecode when a Python of
the runtime's version is found, as `pulumi up` does. Sizes are not timings: they are the same on
every machine with the same compiler, so each is shown against its goal. Each layer is also
broken down by distribution, and measured without the packages Lambda's Python runtime already
provides if it carries any.
"""

import re
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import Any

from bench.figures import (
    Figure,
    Section,
    arguments,
    before_of,
    command,
    finish,
    times,
    verdict,
)
from infra import packaging
from services.routes import FUNCTIONS

ARCHIVE_GOAL = 200_000  # bytes: KB and MB are decimal here, as Lambda's quotas state theirs
LAYER_GOAL = 10_000_000
ARCHITECTURE = "arm64"  # Pulumi.yaml's defaults
PYTHON_VERSION = "3.13"
# In the Lambda Python runtime already (boto3 and what it needs); a layer's copy shadows it.
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}
)


def kb(size: int) -> str:
    return f"{size / 1000:.1f} KB"


def mb(size: int) -> str:
    return f"{size / 1_000_000:.2f} MB"


_ALIASES = {"python_dateutil": "dateutil", "psycopg2_binary": "psycopg2"}


def distribution(name: str) -> str:
    """The package a layer entry belongs to: python/botocore/x.py and
    python/botocore-1.44.8.dist-info/RECORD -> botocore."""
    parts = PurePosixPath(name).parts
    top = re.split(r"[-.]", parts[1] if len(parts) > 1 else parts[0])[0]
    return _ALIASES.get(top, top)


def layer_breakdown(layer: Path) -> tuple[dict[str, int], int]:
    """Compressed bytes per distribution, and the unzipped size."""
    by_package: dict[str, int] = defaultdict(int)
    unzipped = 0
    with zipfile.ZipFile(layer) as archive:
        for entry in archive.infolist():
            by_package[distribution(entry.filename)] += entry.compress_size
            unzipped += entry.file_size
    return dict(by_package), unzipped


def without_runtime_provided(layer: Path, out_dir: Path) -> Path:
    """The same layer without the packages the runtime provides: rezipped, to be measured."""
    files: dict[str, Path] = {}
    scratch = out_dir / "unpacked"
    with zipfile.ZipFile(layer) as archive:
        for name in archive.namelist():
            if distribution(name) not in RUNTIME_PROVIDED:
                files[name] = Path(archive.extract(name, scratch))
    return packaging.write_reproducible_zip(files, out_dir / "layer-without-runtime.zip")


def _layers() -> dict[str, Path]:
    """Each layer's requirements file. An older tree, measured for the before table with this
    script, had one layer and compiled nothing."""
    requirements: dict[str, Path] | Path = packaging.LAYER_REQUIREMENTS
    return requirements if isinstance(requirements, dict) else {"dependencies": requirements}


def _compiler() -> "packaging.Compiler | None":
    find = getattr(packaging, "find_compiler", None)
    return find(PYTHON_VERSION) if find is not None else None


def _with(compiler: "packaging.Compiler | None") -> dict[str, Any]:
    return {"compiler": compiler} if compiler is not None else {}


def section(only: list[str]) -> Section:
    compiler = _compiler()
    bytecode = (
        f"with bytecode compiled by Python {compiler.version}"
        if compiler is not None
        else f"sources alone: no Python {PYTHON_VERSION} was found to compile them"
    )
    result = Section(
        name="artifacts",
        title="4. Artifacts",
        intro=(
            "Each function's code archive and the dependency layers, built by infra/packaging.py "
            f"as `pulumi up` builds them ({ARCHITECTURE}, Python {PYTHON_VERSION}, {bytecode}); "
            "sizes are the same on any machine, so they are shown against their goal."
        ),
        columns=["Artifact", "Zipped", "Unzipped", "Share of goal"],
    )
    with tempfile.TemporaryDirectory(prefix="bench-artifacts-") as scratch:
        out = Path(scratch)
        for name, function in FUNCTIONS.items():
            if only and name not in only:
                continue
            archive = packaging.build_function_code(function, out, **_with(compiler))
            with zipfile.ZipFile(archive) as built:
                unzipped = sum(entry.file_size for entry in built.infolist())
            size = archive.stat().st_size
            result.add(
                Figure(
                    key=f"artifacts/{name}",
                    cells=[f"`{archive.name}`", kb(size), kb(unzipped), times(size / ARCHIVE_GOAL)],
                    value=float(size),
                    goal="< 200 KB",
                    met=size < ARCHIVE_GOAL,
                    command=command("artifacts", "--only", name),
                )
            )
        for name, requirements in _layers().items():
            if only and f"layer-{name}" not in only:
                continue
            _layer_figures(result, name, requirements, compiler, out)
    return result


def _layer_figures(
    result: Section,
    name: str,
    requirements: Path,
    compiler: "packaging.Compiler | None",
    out: Path,
) -> None:
    layer = packaging.build_layer(
        requirements,
        ARCHITECTURE,
        PYTHON_VERSION,
        packaging.BUILD_DIR,
        constraints_file=packaging.CONSTRAINTS,
        **_with(compiler),
    )
    by_package, unzipped = layer_breakdown(layer)
    size = layer.stat().st_size
    result.add(
        Figure(
            key=f"artifacts/layer-{name}",
            cells=[f"layer `{name}`", mb(size), mb(unzipped), times(size / LAYER_GOAL)],
            value=float(size),
            goal="< 10 MB zipped",
            met=size < LAYER_GOAL,
            command=command("artifacts", "--only", f"layer-{name}"),
        )
    )
    shadowed = sorted(p for p in by_package if p in RUNTIME_PROVIDED)
    if shadowed:  # a what-if only while the layer carries what the runtime provides
        trimmed = without_runtime_provided(layer, out)
        _, trimmed_unzipped = layer_breakdown(trimmed)
        trimmed_size = trimmed.stat().st_size
        result.add(
            Figure(
                key=f"artifacts/layer-{name}-without-runtime-provided",
                cells=[
                    f"layer `{name}` without what the runtime provides (what if)",
                    mb(trimmed_size),
                    mb(trimmed_unzipped),
                    times(trimmed_size / LAYER_GOAL),
                ],
                value=float(trimmed_size),
                goal="< 10 MB zipped",
                met=trimmed_size < LAYER_GOAL,
                command=command("artifacts", "--only", f"layer-{name}"),
            )
        )
        result.notes.append(
            f"The layer `{name}` carries its own "
            + ", ".join(shadowed)
            + ", and Lambda puts layers before the runtime's own boto3 on the path. The what-if "
            "row leaves them out (the runtime provides them)."
        )
    largest = sorted(by_package.items(), key=lambda item: -item[1])[:8]
    result.notes.append(
        f"The layer `{name}`'s largest distributions, zipped: "
        + ", ".join(f"{package} {mb(compressed)}" for package, compressed in largest)
        + "."
    )


def main() -> None:
    options = arguments(__doc__ or "").parse_args()
    built = section(options.only)
    finish(
        built,
        before_of("artifacts", options),
        options.out,
        lambda figure: f"{figure.cells[0]:55s} {figure.cells[1]:>10s}  {verdict(figure.met)}",
    )


if __name__ == "__main__":
    main()
