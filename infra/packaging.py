"""Byte-for-byte reproducible Lambda archives: one code zip per function and the dependency layers.

No Pulumi import here, so the builds run and are tested on their own. Reproducible means the same
sources give the same bytes (sorted entries, fixed timestamps and permissions), so the archive
hash, and with it `pulumi preview`, changes only when the code does.

Bytecode: /var/task and /opt are read-only on Lambda, so modules shipped as sources alone are
compiled again at every cold start, more than half of its CPU (docs/performance.md, 1b). When an
interpreter of the runtime's Python version is at hand (`find_compiler`), every module is
shipped with its `.pyc`, compiled with `unchecked-hash` invalidation (never compared with the
source's timestamp, which the zip does not keep) for its path on Lambda. Each file is compiled
by a fresh interpreter of its own: marshal's output depends on what the compiling process did
before, so a shared process would make a file's bytecode depend on the others'. The bytes then
depend on the compiler's exact version, which is part of every cache key: build previews and
deploys with one pinned Python (the workflows pin it).
"""

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from services.routes import LAYERS, Function

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / ".build"
LAYER_REQUIREMENTS = {name: REPO_ROOT / layer.requirements for name, layer in LAYERS.items()}
CONSTRAINTS = REPO_ROOT / "constraints.txt"  # pins the layer's transitive dependencies too
# Modules at the top of services/ that every function imports (the route table among them).
SHARED_MODULES = ("services/__init__.py", "services/routes.py")

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
FILE_MODE = 0o644
_UNIX = 3  # zip "created by" system, so that the permission bits are read as Unix ones
_SKIPPED_DIRS = frozenset({"__pycache__"})
_SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})
_LAYER_ROOT = "python"  # Lambda adds /opt/python to sys.path
_LAYER_SKIPPED = frozenset({"bin"})  # console scripts: shebangs name this machine's interpreter
# The Lambda Python runtime ships boto3 and what it depends on. A requirement that depends on
# botocore (aws-xray-sdk does) would otherwise put a second copy, some 16 MB, in the layer, ahead
# of the runtime's on the path. Their top-level names and distribution names:
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3"}
)
_RUNTIME_DISTRIBUTIONS = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python_dateutil", "six", "urllib3"}
)
_LAYER_FORMAT = "3"  # part of the cache key: bump when what goes into the zip changes
TASK_ROOT = PurePosixPath("/var/task")  # where Lambda unpacks a function's code archive
LAYER_MOUNT = PurePosixPath("/opt")  # where it unpacks layers (so python/ is /opt/python)

PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}


class LayerBuildError(RuntimeError):
    """pip could not install the layer's requirements for the Lambda platform."""


@dataclass(frozen=True)
class Compiler:
    """An interpreter of the Lambda runtime's Python version, to compile the archives' modules."""

    executable: str
    version: str  # its full version, 3.13.9: part of every cache key, as the bytes depend on it
    cache_tag: str  # cpython-313: how the runtime names the bytecode it looks for

    def compile(self, source: Path, runtime_path: PurePosixPath, out: Path) -> bool:
        """Compile `source` into `out` as Lambda will find it at `runtime_path`; False if the
        source is not valid Python for this version (a third-party file never imported)."""
        result = subprocess.run(
            [self.executable, "-I", "-S", "-c", _COMPILE, str(source), str(out), str(runtime_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.returncode == 0


_COMPILE = """
import py_compile, sys
source, out, runtime_path = sys.argv[1:]
py_compile.compile(source, cfile=out, dfile=runtime_path, doraise=True,
                   invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
"""
_PROBE = "import sys; print(sys.version.split()[0], sys.implementation.cache_tag)"


def find_compiler(python_version: str) -> Compiler | None:
    """This interpreter if it is of `python_version` (3.13), else `python3.13` on the PATH, else
    None: the archives then carry sources alone."""
    candidates = [sys.executable, shutil.which(f"python{python_version}")]
    for executable in filter(None, candidates):
        try:
            probe = subprocess.run(
                [executable, "-I", "-S", "-c", _PROBE],
                capture_output=True, text=True, check=True, timeout=30,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            continue  # a pyenv shim of a version not selected, for one
        version, cache_tag = probe.stdout.split()
        if version.rsplit(".", 1)[0] == python_version:
            return Compiler(executable, version, cache_tag)
    return None


@dataclass(frozen=True)
class Compiled:
    files: dict[str, Path]  # the sources and the bytecode of each module that compiled
    failed: list[str]  # the modules that did not (invalid Python for the compiler's version)


def with_bytecode(
    files: Mapping[str, Path], root: PurePosixPath, compiler: Compiler, cache: Path
) -> Compiled:
    """`files` (archive name -> source) and the bytecode of each module among them, named where
    the runtime looks for it (`a/__pycache__/b.cpython-313.pyc` for `a/b.py`) and compiled for
    the path the archive gives it under `root`. Compiled once per content and path: `cache`
    keeps each result, so rebuilding an archive recompiles only what changed."""
    jobs: dict[str, tuple[Path, PurePosixPath, Path]] = {}
    modules: dict[str, str] = {}  # bytecode name -> its module's name
    for name, source in files.items():
        if not name.endswith(".py"):
            continue
        runtime_path = root / name
        key = hashlib.sha256(
            f"{compiler.version}\0{runtime_path}\0".encode() + source.read_bytes()
        ).hexdigest()
        archive_name = PurePosixPath(name)
        pyc = archive_name.parent / "__pycache__" / f"{archive_name.stem}.{compiler.cache_tag}.pyc"
        jobs[str(pyc)] = (source, runtime_path, cache / compiler.version / f"{key}.pyc")
        modules[str(pyc)] = name

    def compiled(job: tuple[Path, PurePosixPath, Path]) -> bool:
        source, runtime_path, out = job
        if out.is_file():
            return True
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_suffix(f".{os.getpid()}.partial")
        if not compiler.compile(source, runtime_path, partial):
            return False
        os.replace(partial, out)  # a concurrent build never reads half a file
        return True

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        done = dict(zip(jobs, pool.map(compiled, jobs.values()), strict=True))
    return Compiled(
        files={**files, **{name: jobs[name][2] for name, ok in done.items() if ok}},
        failed=sorted(modules[name] for name, ok in done.items() if not ok),
    )


def write_reproducible_zip(files: Mapping[str, Path], destination: Path) -> Path:
    """Zip `files` (archive name -> source) so that equal contents always give equal bytes."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=destination.parent, suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as stream, zipfile.ZipFile(stream, "w") as archive:
            for name in sorted(files):
                entry = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
                entry.create_system = _UNIX
                entry.external_attr = (0o100000 | FILE_MODE) << 16  # a regular file, rw-r--r--
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, files[name].read_bytes(), compresslevel=9)
        os.chmod(partial, FILE_MODE)  # mkstemp creates 0o600
        os.replace(partial, destination)  # readers never see a half-written archive
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return destination


def archive_hash(path: Path) -> str:
    """The base64 SHA-256 of a file: the form Lambda reports as CodeSha256."""
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode("ascii")


def _skipped(relative: PurePosixPath) -> bool:
    return relative.suffix in _SKIPPED_SUFFIXES or not _SKIPPED_DIRS.isdisjoint(relative.parts)


def _tree(base: Path, prefix: PurePosixPath) -> dict[str, Path]:
    """Every file under `base`, named `prefix/<path relative to base>`, without bytecode."""
    files: dict[str, Path] = {}
    for path in base.rglob("*"):
        relative = PurePosixPath(path.relative_to(base).as_posix())
        if path.is_file() and not _skipped(relative):
            files[str(prefix / relative)] = path
    return files


def tree_digest(base: Path) -> str:
    """The hex SHA-256 of every file under `base` (names and contents, sorted), without bytecode.

    Equal trees give equal digests on any machine: a change of any file's contents or name, or a
    file added or removed, changes it.
    """
    if not base.is_dir():
        raise FileNotFoundError(f"{base} is not a directory")
    digest = hashlib.sha256()
    for name, path in sorted(_tree(base, PurePosixPath()).items()):
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def build_code_archive(
    packages: Iterable[str],
    out_dir: Path,
    *,
    root: Path = REPO_ROOT,
    name: str | None = None,
    compiler: Compiler | None = None,
) -> Path:
    """Zip the shared top-level modules and the given package directories or single modules
    (relative to `root`), with their bytecode if a `compiler` is given."""
    packages = tuple(packages)
    files = {module: root / module for module in SHARED_MODULES}
    for package in packages:
        base = root / package
        if base.is_file() and base.suffix == ".py":
            files[package] = base
        elif base.is_dir():
            files.update(_tree(base, PurePosixPath(package)))
        else:
            raise FileNotFoundError(
                f"source package {package!r} is neither a directory nor a module under {root}"
            )
    if compiler is not None:
        compiled = with_bytecode(files, TASK_ROOT, compiler, out_dir / "bytecode")
        if compiled.failed:
            raise SyntaxError(f"Python {compiler.version} cannot compile {compiled.failed}")
        files = compiled.files
    stem = name or "code-" + "-".join(PurePosixPath(package).name for package in sorted(packages))
    return write_reproducible_zip(files, out_dir / f"{stem}.zip")


def handler_module(handler: str) -> str:
    """The archive path of a handler's module: `a.b.handler.fn` -> `a/b/handler.py`."""
    module, _, attribute = handler.rpartition(".")
    if not module or not attribute:
        raise ValueError(f"handler {handler!r} is not of the form 'module.attribute'")
    return module.replace(".", "/") + ".py"


def build_function_code(
    function: Function, out_dir: Path, *, root: Path = REPO_ROOT, compiler: Compiler | None = None
) -> Path:
    """The code archive of one function, checked to contain the module its handler names."""
    archive = build_code_archive(
        function.packages, out_dir, root=root, name=f"function-{function.name}", compiler=compiler
    )
    module = handler_module(function.handler)
    with zipfile.ZipFile(archive) as built:
        if module not in built.namelist():
            raise FileNotFoundError(
                f"function {function.name!r}: handler module {module} is not in its packages "
                f"{list(function.packages)}"
            )
    return archive


def layer_cache_key(
    requirements_file: Path,
    platform: str,
    python_version: str,
    constraints_file: Path | None = None,
    compiler: Compiler | None = None,
) -> str:
    digest = hashlib.sha256(requirements_file.read_bytes())
    if constraints_file is not None:
        digest.update(constraints_file.read_bytes())
    bytecode = compiler.version if compiler is not None else "none"
    digest.update(f"\0{platform}\0{python_version}\0{_LAYER_FORMAT}\0{bytecode}".encode())
    return digest.hexdigest()[:16]


def build_layer(
    requirements_file: Path,
    architecture: str,
    python_version: str,
    out_dir: Path,
    constraints_file: Path | None = None,
    compiler: Compiler | None = None,
) -> Path:
    """Install the requirements for the Lambda platform into a layer zip, once per input, with
    their bytecode if a `compiler` is given (a file that does not compile goes as source alone).

    The zip is cached in `out_dir` under a key made of the requirements file's contents, the
    platform, the Python version and the compiler's version, so pinned requirements are
    downloaded only when they change.
    """
    if architecture not in PLATFORMS:
        raise ValueError(f"architecture must be one of {sorted(PLATFORMS)}, not {architecture!r}")
    platform = PLATFORMS[architecture]
    key = layer_cache_key(requirements_file, platform, python_version, constraints_file, compiler)
    layer = out_dir / f"layer-{architecture}-py{python_version}-{key}.zip"
    if layer.is_file():
        return layer
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix="layer-") as scratch:
        target = Path(scratch) / _LAYER_ROOT
        _pip_install(requirements_file, constraints_file, platform, python_version, target)
        files = {
            name: path
            for name, path in _tree(target, PurePosixPath(_LAYER_ROOT)).items()
            if not _left_out(PurePosixPath(name).parts[1])
        }
        if compiler is not None:
            files = with_bytecode(files, LAYER_MOUNT, compiler, Path(scratch) / "bytecode").files
        return write_reproducible_zip(files, layer)


def _left_out(top_level: str) -> bool:
    """Console scripts, and what the Lambda runtime already provides."""
    if top_level in _LAYER_SKIPPED or top_level in RUNTIME_PROVIDED:
        return True
    if top_level.endswith(".dist-info"):
        distribution = top_level.removesuffix(".dist-info").rsplit("-", 1)[0]
        return distribution.lower().replace("-", "_") in _RUNTIME_DISTRIBUTIONS
    return False


def _pip_install(
    requirements_file: Path,
    constraints_file: Path | None,
    platform: str,
    python_version: str,
    target: Path,
) -> None:
    command = [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-input", "--no-compile",
        "--platform", platform,
        "--implementation", "cp",
        "--python-version", python_version,
        "--only-binary=:all:",
        "--target", str(target),
        "-r", str(requirements_file),
    ]  # fmt: skip
    if constraints_file is not None:
        command += ["-c", str(constraints_file)]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        raise LayerBuildError(
            f"pip could not build the layer for {platform}:\n{exc.stderr}"
        ) from exc
