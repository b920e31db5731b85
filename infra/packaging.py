"""Byte-for-byte reproducible Lambda archives: one code zip per function and the dependency layer.

No Pulumi import here, so the builds run and are tested on their own. Reproducible means the same
sources give the same bytes (sorted entries, fixed timestamps and permissions, no bytecode), so the
archive hash, and with it `pulumi preview`, changes only when the code does.
"""

import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from services.routes import Function

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / ".build"
LAYER_REQUIREMENTS = REPO_ROOT / "services" / "requirements.txt"
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
_LAYER_FORMAT = "2"  # part of the cache key: bump when what goes into the zip changes

PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}


class LayerBuildError(RuntimeError):
    """pip could not install the layer's requirements for the Lambda platform."""


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
    packages: Iterable[str], out_dir: Path, *, root: Path = REPO_ROOT, name: str | None = None
) -> Path:
    """Zip the shared top-level modules and the given package directories (relative to `root`)."""
    packages = tuple(packages)
    files = {module: root / module for module in SHARED_MODULES}
    for package in packages:
        base = root / package
        if not base.is_dir():
            raise FileNotFoundError(f"source package {package!r} is not a directory under {root}")
        files.update(_tree(base, PurePosixPath(package)))
    stem = name or "code-" + "-".join(PurePosixPath(package).name for package in sorted(packages))
    return write_reproducible_zip(files, out_dir / f"{stem}.zip")


def handler_module(handler: str) -> str:
    """The archive path of a handler's module: `a.b.handler.fn` -> `a/b/handler.py`."""
    module, _, attribute = handler.rpartition(".")
    if not module or not attribute:
        raise ValueError(f"handler {handler!r} is not of the form 'module.attribute'")
    return module.replace(".", "/") + ".py"


def build_function_code(function: Function, out_dir: Path, *, root: Path = REPO_ROOT) -> Path:
    """The code archive of one function, checked to contain the module its handler names."""
    archive = build_code_archive(
        function.packages, out_dir, root=root, name=f"function-{function.name}"
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
) -> str:
    digest = hashlib.sha256(requirements_file.read_bytes())
    if constraints_file is not None:
        digest.update(constraints_file.read_bytes())
    digest.update(f"\0{platform}\0{python_version}\0{_LAYER_FORMAT}".encode())
    return digest.hexdigest()[:16]


def build_layer(
    requirements_file: Path,
    architecture: str,
    python_version: str,
    out_dir: Path,
    constraints_file: Path | None = None,
) -> Path:
    """Install the requirements for the Lambda platform into a layer zip, once per input.

    The zip is cached in `out_dir` under a key made of the requirements file's contents, the
    platform and the Python version, so pinned requirements are downloaded only when they change.
    """
    if architecture not in PLATFORMS:
        raise ValueError(f"architecture must be one of {sorted(PLATFORMS)}, not {architecture!r}")
    platform = PLATFORMS[architecture]
    key = layer_cache_key(requirements_file, platform, python_version, constraints_file)
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
