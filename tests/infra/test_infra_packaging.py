"""The archive builds on their own: reproducible bytes, the right entries, a cached layer."""

import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from infra import packaging
from services.routes import FUNCTIONS, LAYERS, Function

THIS_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A small services tree with the bytecode and caches a developer's checkout holds."""
    return _tree(
        tmp_path / "src",
        {
            "services/__init__.py": "",
            "services/routes.py": "ROUTES = ()\n",
            "services/common/__init__.py": "",
            "services/common/settings.py": "TABLE = 'x'\n",
            "services/shop/__init__.py": "",
            "services/shop/handler.py": "def handler(event, context):\n    return {}\n",
            "services/shop/__pycache__/handler.cpython-311.pyc": "bytecode",
            "services/shop/stale.pyc": "bytecode",
            "services/other/module.py": "not shipped\n",
        },
    )


SHOP = Function(
    "shop", "services.shop.handler.handler", ("services/common", "services/shop"), service="shop"
)


def test_code_archive_is_byte_for_byte_reproducible(source: Path, tmp_path: Path) -> None:
    first = packaging.build_code_archive(SHOP.packages, tmp_path / "a", root=source)
    # A later checkout: new modification times and permissions must not leak into the archive.
    for path in source.rglob("*.py"):
        os.utime(path, (2_000_000_000, 2_000_000_000))
        path.chmod(0o755)
    second = packaging.build_code_archive(SHOP.packages, tmp_path / "b", root=source)

    assert first.read_bytes() == second.read_bytes()
    assert packaging.archive_hash(first) == packaging.archive_hash(second)


def test_code_archive_changes_when_the_code_does(source: Path, tmp_path: Path) -> None:
    before = packaging.archive_hash(
        packaging.build_code_archive(SHOP.packages, tmp_path, root=source)
    )
    (source / "services/shop/handler.py").write_text("def handler(event, context):\n    return 1\n")
    after = packaging.archive_hash(
        packaging.build_code_archive(SHOP.packages, tmp_path, root=source)
    )

    assert before != after


def test_code_archive_holds_sorted_sources_with_fixed_metadata(
    source: Path, tmp_path: Path
) -> None:
    archive = packaging.build_code_archive(SHOP.packages, tmp_path, root=source)

    with zipfile.ZipFile(archive) as built:
        entries = built.infolist()
    names = [entry.filename for entry in entries]
    assert names == [
        "services/__init__.py",
        "services/common/__init__.py",
        "services/common/settings.py",
        "services/routes.py",
        "services/shop/__init__.py",
        "services/shop/handler.py",
    ]
    assert {entry.date_time for entry in entries} == {(1980, 1, 1, 0, 0, 0)}
    assert {entry.external_attr >> 16 & 0o777 for entry in entries} == {0o644}


def test_function_code_holds_the_real_handler_module(tmp_path: Path) -> None:
    function = FUNCTIONS["products"]

    archive = packaging.build_function_code(function, tmp_path)

    with zipfile.ZipFile(archive) as built:
        names = set(built.namelist())
    assert "services/__init__.py" in names
    assert packaging.handler_module(function.handler) == "services/products/handler.py"
    assert "services/products/handler.py" in names
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)


def _requirement_names(requirements_file: Path) -> set[tuple[str, frozenset[str]]]:
    found = set()
    for line in requirements_file.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if match := re.match(r"([A-Za-z0-9._-]+)(?:\[([^\]]*)\])?", line):
            extras = frozenset(e.strip() for e in (match.group(2) or "").split(",") if e.strip())
            found.add((match.group(1), extras))
    return found


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(requirements: set[tuple[str, frozenset[str]]]) -> set[str]:
    """The distributions the requirements install: their own and, recursively, what they need
    (a dependency behind an extra only when that extra is asked for)."""
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        name, extras = todo.pop()
        if _normal(name) in seen:
            continue
        try:
            needs = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here (a marker excludes it), so nothing here imports it
        seen.add(_normal(name))
        for requirement in needs:
            marker = re.search(r"extra\s*==\s*[\'\"]([^\'\"]+)", requirement)
            if marker and marker.group(1) not in extras:
                continue
            sub = re.match(r"([A-Za-z0-9._-]+)(?:\[([^\]]*)\])?", requirement)
            assert sub is not None
            todo.append((sub.group(1), frozenset((sub.group(2) or "").split(",")) - {""}))
    return seen


# What the Lambda runtime itself provides, beside the standard library; and certifi, which
# botocore imports if it is there and does without otherwise.
RUNTIME = _closure({("boto3", frozenset())}) | {"certifi"}


@pytest.mark.parametrize("function", sorted(FUNCTIONS), ids=str)
def test_each_handler_imports_from_its_archive_and_its_layers_alone(
    function: str, tmp_path: Path
) -> None:
    """What Lambda does: unpack the archive and import the handler, with nothing else of ours and
    no third-party module beyond the function's layers and what the runtime provides."""
    spec = FUNCTIONS[function]
    archive = packaging.build_function_code(spec, tmp_path / "build")
    unpacked = tmp_path / "task"
    with zipfile.ZipFile(archive) as built:
        built.extractall(unpacked)
    module, _, attribute = spec.handler.rpartition(".")
    probe = (
        "import sys, json, sysconfig\n"
        "before = set(sys.modules)\n"  # what the interpreter's start loaded (.pth hooks)
        f"import {module} as m\n"
        f"assert callable(m.{attribute})\n"
        "paths = sysconfig.get_paths()\n"
        "third = sorted({n.partition('.')[0] for n, mod in list(sys.modules.items())\n"
        "    if n not in before\n"
        "    and (getattr(mod, '__file__', None) or '').startswith(paths['purelib'])})\n"
        "print(json.dumps([m.__file__, third]))"
    )
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=unpacked,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    location, imported = json.loads(result.stdout)
    assert location.startswith(str(unpacked))
    owners = importlib.metadata.packages_distributions()
    layers = {
        owner
        for layer in spec.layers
        for owner in _closure(_requirement_names(packaging.REPO_ROOT / LAYERS[layer].requirements))
    }
    outside = {
        top: owners.get(top)
        for top in imported
        if not {_normal(d) for d in owners.get(top, [])} & (layers | RUNTIME)
    }
    assert not outside, f"{function} imports what neither its layers nor the runtime provide"


def test_only_the_functions_that_connect_to_the_database_carry_its_driver() -> None:
    with_driver = {name for name, spec in FUNCTIONS.items() if "postgres" in spec.layers}
    assert {"orders", "relay", "migrate", "confirm-order"} <= with_driver
    assert not {"products", "users", "order-worker"} & with_driver


def _compiler() -> packaging.Compiler:
    """The test's own interpreter stands in for the runtime's Python: same mechanism."""
    found = packaging.find_compiler(THIS_PYTHON)
    assert found is not None
    return found


def test_the_compiler_is_an_interpreter_of_the_runtime_version() -> None:
    found = _compiler()
    assert found.version == platform.python_version()
    assert found.cache_tag == sys.implementation.cache_tag
    assert packaging.find_compiler("2.1") is None  # no such Python here: sources alone


def test_code_archive_carries_bytecode_that_runs_in_place_of_the_source(
    source: Path, tmp_path: Path
) -> None:
    compiler = _compiler()
    archive = packaging.build_code_archive(
        SHOP.packages, tmp_path / "build", root=source, compiler=compiler
    )
    with zipfile.ZipFile(archive) as built:
        names = set(built.namelist())
        built.extractall(tmp_path / "task")
    tag = compiler.cache_tag
    modules = {name for name in names if name.endswith(".py")}
    assert {n for n in names if n.endswith(".pyc")} == {
        str(PurePosixPath(m).parent / "__pycache__" / f"{PurePosixPath(m).stem}.{tag}.pyc")
        for m in modules
    }
    # The bytecode is what runs (never checked against the source, which may be anything now),
    # and tracebacks name the source file where it was unpacked.
    (tmp_path / "task/services/shop/handler.py").write_text("raise SystemExit('source ran')\n")
    probe = "import services.shop.handler as h; print(h.handler.__code__.co_filename)"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path / "task",
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "task/services/shop/handler.py")


def test_bytecode_archives_are_byte_for_byte_reproducible(source: Path, tmp_path: Path) -> None:
    compiler = _compiler()
    first = packaging.build_code_archive(
        SHOP.packages, tmp_path / "a", root=source, compiler=compiler
    )
    for path in source.rglob("*.py"):
        os.utime(path, (2_000_000_000, 2_000_000_000))
    # A fresh build (no cache) in another interpreter, seeded otherwise, gives the same bytes,
    # whatever the sources' timestamps.
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    script = (
        "import sys; from pathlib import Path; from infra import packaging;"
        f"c = packaging.find_compiler({THIS_PYTHON!r});"
        f"print(packaging.build_code_archive({SHOP.packages!r}, Path(sys.argv[1]),"
        f" root=Path({str(source)!r}), compiler=c))"
    )
    second = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "b")],
        env=environment,
        cwd=packaging.REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert first.read_bytes() == Path(second).read_bytes()


def test_a_changed_module_alone_is_compiled_again(source: Path, tmp_path: Path) -> None:
    compiler = _compiler()
    cache = tmp_path / "cache"
    files = {str(p.relative_to(source)): p for p in source.rglob("*.py")}
    first = packaging.with_bytecode(files, packaging.TASK_ROOT, compiler, cache)
    (source / "services/shop/handler.py").write_text("def handler(event, context):\n    return 1\n")
    second = packaging.with_bytecode(files, packaging.TASK_ROOT, compiler, cache)
    changed = {name for name in first.files if first.files[name] != second.files[name]}
    assert changed == {f"services/shop/__pycache__/handler.{compiler.cache_tag}.pyc"}


def test_invalid_python_is_refused_in_our_code_and_left_as_source_in_a_layer(
    source: Path, tmp_path: Path
) -> None:
    compiler = _compiler()
    (source / "services/shop/broken.py").write_text("def (:\n")
    with pytest.raises(SyntaxError, match=r"services/shop/broken\.py"):
        packaging.build_code_archive(SHOP.packages, tmp_path, root=source, compiler=compiler)
    layer_files = {"python/lib/broken.py": source / "services/shop/broken.py"}
    compiled = packaging.with_bytecode(layer_files, packaging.LAYER_MOUNT, compiler, tmp_path)
    assert compiled.failed == ["python/lib/broken.py"]
    assert compiled.files == layer_files


def test_code_archive_may_name_single_modules(source: Path, tmp_path: Path) -> None:
    archive = packaging.build_code_archive(
        ("services/shop/handler.py",), tmp_path, root=source, name="one"
    )
    with zipfile.ZipFile(archive) as built:
        assert set(built.namelist()) == {
            "services/__init__.py",
            "services/routes.py",
            "services/shop/handler.py",
        }


def test_function_code_refuses_a_handler_outside_its_packages(source: Path, tmp_path: Path) -> None:
    misplaced = Function("shop", "services.other.module.handler", SHOP.packages, "shop")

    with pytest.raises(FileNotFoundError, match=r"services/other/module\.py"):
        packaging.build_function_code(misplaced, tmp_path, root=source)


def test_layer_is_installed_for_the_platform_and_built_once(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("idna==3.10\n")
    out = tmp_path / "build"

    layer = packaging.build_layer(requirements, "arm64", "3.13", out)
    built_at = layer.stat().st_mtime_ns
    again = packaging.build_layer(requirements, "arm64", "3.13", out)

    assert again == layer
    assert again.stat().st_mtime_ns == built_at  # served from the cache: pip did not run again
    with zipfile.ZipFile(layer) as built:
        names = built.namelist()
    assert "python/idna/__init__.py" in names
    assert names == sorted(names)
    assert not any(name.startswith("python/bin/") or name.endswith(".pyc") for name in names)
    assert sorted(p.name for p in out.iterdir()) == [layer.name]  # no scratch left behind


def test_the_layer_leaves_out_what_the_lambda_runtime_provides(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("idna==3.10\njmespath==1.0.1\nsix==1.17.0\n")

    layer = packaging.build_layer(requirements, "arm64", "3.13", tmp_path / "build")

    with zipfile.ZipFile(layer) as built:
        top = {PurePosixPath(name).parts[1] for name in built.namelist()}
    assert "idna" in top
    assert not {"jmespath", "six.py"} & top
    assert not any(name.startswith(("jmespath-", "six-")) for name in top)  # nor their metadata


def test_layer_cache_key_follows_requirements_platform_and_python(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six==1.16.0\n")
    key = packaging.layer_cache_key(requirements, "manylinux2014_aarch64", "3.13")

    assert packaging.layer_cache_key(requirements, "manylinux2014_x86_64", "3.13") != key
    assert packaging.layer_cache_key(requirements, "manylinux2014_aarch64", "3.12") != key
    compiler = packaging.Compiler("python3.13", "3.13.9", "cpython-313")
    with_bytecode = packaging.layer_cache_key(
        requirements, "manylinux2014_aarch64", "3.13", None, compiler
    )
    assert with_bytecode != key
    other_patch = packaging.Compiler("python3.13", "3.13.10", "cpython-313")
    assert (
        packaging.layer_cache_key(requirements, "manylinux2014_aarch64", "3.13", None, other_patch)
        != with_bytecode
    )
    requirements.write_text("six==1.17.0\n")
    assert packaging.layer_cache_key(requirements, "manylinux2014_aarch64", "3.13") != key


def test_layer_refuses_an_unknown_architecture(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="architecture"):
        packaging.build_layer(tmp_path / "requirements.txt", "sparc", "3.13", tmp_path)


def test_layer_build_failure_names_the_platform(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("not a requirement ===\n")  # pip rejects it before any download

    with pytest.raises(packaging.LayerBuildError, match="manylinux2014_x86_64"):
        packaging.build_layer(requirements, "x86_64", "3.13", tmp_path / "build")
