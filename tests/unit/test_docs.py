"""The docs agree with the code they describe: the README's configuration table with Pulumi.yaml,
every link between the pages with a file and heading that exist, every `make` target they name
with the Makefile."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
MAKE = re.compile(r"`make ([a-z][a-z-]*)")
TARGET = re.compile(r"^([a-z][a-z-]*):", re.MULTILINE)


def configuration_table() -> dict[str, str]:
    """Key -> the Default cell, from the README's `## Configuration` table."""
    section = (ROOT / "README.md").read_text().split("\n## Configuration\n", 1)[1].split("\n## ")[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| `")]
    return {key.strip().strip("`"): default.strip().strip("`") for key, default, _ in rows}


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def test_the_readme_configuration_table_is_pulumi_yaml_with_its_defaults():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    table = configuration_table()

    assert set(table) == set(declared)
    for key, default in table.items():
        expected = declared[key].get("default", declared[key].get("value"))
        assert yaml.safe_load(default) == expected, key


def test_the_slug_is_githubs():
    assert (
        slug(" 1b. Cold start, from the deployed archives")
        == "1b-cold-start-from-the-deployed-archives"
    )
    assert slug("API 5xx rate") == "api-5xx-rate"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_link_to_another_page_names_a_file_and_heading_that_exist(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto: and the like
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        missing = not linked.exists()
        if missing or (anchor and linked.suffix == ".md" and anchor not in anchors(linked)):
            broken.append(target)

    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_make_target_a_page_names_is_in_the_makefile(page):
    targets = set(TARGET.findall((ROOT / "Makefile").read_text()))

    assert set(MAKE.findall(page.read_text())) - targets == set()
