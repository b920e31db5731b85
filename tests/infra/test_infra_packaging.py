"""The archive builds on their own: reproducible bytes, the right entries, a cached layer."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from infra import packaging
from services.routes import FUNCTIONS, Function


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


@pytest.mark.parametrize("function", sorted(FUNCTIONS), ids=str)
def test_each_handler_imports_from_its_archive_alone(function: str, tmp_path: Path) -> None:
    """What Lambda does: unpack the archive and import the handler, with nothing else of ours."""
    archive = packaging.build_function_code(FUNCTIONS[function], tmp_path / "build")
    unpacked = tmp_path / "task"
    with zipfile.ZipFile(archive) as built:
        built.extractall(unpacked)
    module, _, attribute = FUNCTIONS[function].handler.rpartition(".")
    probe = f"import {module} as m, sys; assert callable(m.{attribute}); print(m.__file__)"
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=unpacked,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(unpacked))


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
