"""Cold start from the archives Lambda receives, with and without bytecode, on the runtime's Python.

Lambda unpacks a function's archive to /var/task and its layers to /opt/python, read-only: a
module shipped without bytecode is compiled again at every cold start. This builds each API
function's archive and its layers with infra/packaging.py (for this machine's architecture, so
that the layers' binaries load here), twice: with bytecode compiled by the runtime's Python, found
as `pulumi up` finds it, and as sources alone. Each is unpacked into a task root and an /opt-like
directory and started by that Python with what Lambda's file system forces
(PYTHONDONTWRITEBYTECODE) and boto3 as the runtime provides it, precompiled. The child is
bench/cold_start.py's: import, build, first answer, CPU time. The baseline (bench/bare.py, shipped
the same way with the layer's Flask and serverless-wsgi) runs in both forms too. Rounds are
interleaved and each figure is a median; without a Python of the runtime's version nothing is
measured, and the section says so.
"""

import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from bench import cold_start
from bench.cold_start import Target, Timings, targets
from bench.figures import (
    RESULTS,
    ROOT,
    Figure,
    Section,
    arguments,
    command,
    finish,
    machine,
    median,
    ms,
    times,
    verdict,
)
from infra import packaging
from services.routes import FUNCTIONS

PYTHON_VERSION = "3.13"  # Pulumi.yaml's lambdaRuntime default
ROUNDS = 7
MEASURED = ("baseline", "products", "users", "orders")
GOAL = 1.25  # the cold-start goal, against the baseline shipped the same way
VARIANTS = ("sources", "bytecode")
_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


def runtime_boto3(compiler: packaging.Compiler, directory: Path) -> Path:
    """boto3 at the version the tests pin, installed for the runtime's Python and compiled, as
    the Lambda runtime provides it. Kept between runs."""
    target = directory / f"runtime-{compiler.version}"
    if (target / ".done").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    pins = (ROOT / "requirements-dev.txt").read_text().splitlines()
    (boto3,) = [line for line in pins if line.startswith("boto3==")]
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet",
            "--disable-pip-version-check", "--no-compile", "--target", str(target),
            "--python-version", PYTHON_VERSION, "--only-binary=:all:", "--implementation", "cp",
            boto3, "-c", str(packaging.CONSTRAINTS),
        ],
        check=True,
    )  # fmt: skip
    subprocess.run(
        [compiler.executable, "-m", "compileall", "-q", "-j0", str(target)],
        check=True,
        capture_output=True,
    )
    (target / ".done").touch()
    return target


def unpack(
    name: str, compiler: packaging.Compiler | None, architecture: str, into: Path
) -> tuple[Path, Path]:
    """The task root and the /opt of one function (or of the baseline), as Lambda lays them out."""
    task, opt = into / "task", into / "opt"
    shutil.rmtree(into, ignore_errors=True)
    task.mkdir(parents=True)
    scratch = into / "build"
    if name == "baseline":
        files = {name: ROOT / name for name in ("bench/__init__.py", "bench/bare.py")}
        if compiler is not None:
            files = packaging.with_bytecode(
                files, packaging.TASK_ROOT, compiler, RESULTS / "deployed-bytecode"
            ).files
        archive = packaging.write_reproducible_zip(files, scratch / "baseline.zip")
        layers = ["dependencies"]
    else:
        archive = packaging.build_function_code(FUNCTIONS[name], scratch, compiler=compiler)
        layers = list(FUNCTIONS[name].layers)
    with zipfile.ZipFile(archive) as built:
        built.extractall(task)
    for layer in layers:
        zipped = packaging.build_layer(
            packaging.LAYER_REQUIREMENTS[layer],
            architecture,
            PYTHON_VERSION,
            packaging.BUILD_DIR,
            constraints_file=packaging.CONSTRAINTS,
            compiler=compiler,
        )
        with zipfile.ZipFile(zipped) as built:
            built.extractall(opt)
    return task, opt


def run_once(
    target: Target, compiler: packaging.Compiler, task: Path, opt: Path, boto3: Path
) -> dict[str, Any]:
    extra = {
        "PYTHONPATH": f"{task}:{opt / 'python'}:{boto3}",
        "PYTHONDONTWRITEBYTECODE": "1",  # /var/task and /opt are read-only
        "LAMBDA_TASK_ROOT": str(task),
    }
    return cold_start.run_once(target, task, extra, interpreter=(compiler.executable, "-s"))


def section(rounds: int) -> Section:
    compiler = packaging.find_compiler(PYTHON_VERSION)
    architecture = _ARCHITECTURES.get(platform.machine().lower())
    result = Section(
        name="deployed",
        title="1b. Cold start from the deployed archives",
        intro=(
            "The API functions started as Lambda starts them: from their code archive and layers "
            "as infra/packaging.py builds them, unpacked read-only, with the runtime's Python "
            f"({PYTHON_VERSION}) and boto3 as the runtime provides it; with bytecode in the "
            "archives and with sources alone (as before this change: every module compiled at "
            "every cold start). CPU time of import, build and first answer, median of "
            f"{rounds} interleaved rounds; the last column is against the bare baseline "
            "shipped the same way."
        ),
        columns=[
            "Function",
            "Sources alone (CPU)",
            "With bytecode (CPU)",
            "Bytecode / sources",
            "With bytecode / baseline",
        ],
    )
    if compiler is None or architecture is None:
        result.notes.append(
            f"Not measured: no Python {PYTHON_VERSION} on this machine (or an architecture "
            "Lambda has no layer for), so nothing could run the archives as Lambda does."
        )
        return result
    result.machine = {**machine(), "python": compiler.version}  # the functions' Python
    boto3 = runtime_boto3(compiler, RESULTS)
    chosen = [target for target in targets() if target.name in MEASURED]
    places = {
        (target.name, variant): unpack(
            target.name,
            compiler if variant == "bytecode" else None,
            architecture,
            RESULTS / "deployed" / variant / target.name,
        )
        for target in chosen
        for variant in VARIANTS
    }
    runs = {key: Timings() for key in places}
    for _ in range(rounds):
        for target in chosen:
            for variant in VARIANTS:
                task, opt = places[target.name, variant]
                runs[target.name, variant].runs.append(run_once(target, compiler, task, opt, boto3))
    for target in chosen:
        sources = runs[target.name, "sources"]
        compiled = runs[target.name, "bytecode"]
        to_baseline = (
            compiled.ratio_to(runs["baseline", "bytecode"]) if target.name != "baseline" else None
        )
        result.add(
            Figure(
                key=f"deployed/{target.name}",
                cells=[
                    target.name,
                    ms(sources.median_of("cpu")),
                    ms(compiled.median_of("cpu")),
                    times(compiled.ratio_to(sources)),
                    times(to_baseline) if to_baseline is not None else "—",
                ],
                value=compiled.ratio_to(sources),
                goal=f"≤ {GOAL}x the baseline" if to_baseline is not None else "—",
                met=to_baseline <= GOAL if to_baseline is not None else None,
                command=command("deployed"),
            )
        )
    modules = median([run["modules"] for run in runs["orders", "bytecode"].runs])
    result.notes.append(
        f"Run by Python {compiler.version} ({compiler.executable}) with layers for "
        f"{architecture}; the orders function loads {modules:.0f} modules at its first answer."
    )
    return result


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    options = parser.parse_args()
    built = section(options.rounds)
    finish(
        built,
        None,  # the sources-alone column is the before: archives carried no bytecode
        options.out,
        lambda figure: (
            f"{figure.cells[0]:10s} {figure.cells[1]:>10s} {figure.cells[2]:>10s} "
            f"{figure.cells[3]:>7s} {figure.cells[4]:>7s}  {verdict(figure.met)}"
        ),
    )


if __name__ == "__main__":
    main()
