"""The fulfilment definition passes asl-validator (the npm package, pinned in package.json), and a
broken one fails it, so a pass means the validator really ran.

`make install` runs `npm ci` when npm is on the machine; without node the test is skipped.
"""

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from services.orders.workflow import STEP_FUNCTIONS, StepArns, definition

ROOT = Path(__file__).resolve().parents[1]
VALIDATOR = ROOT / "node_modules" / ".bin" / "asl-validator"
ARNS = StepArns(
    **{
        step: f"arn:aws:lambda:us-east-1:123456789012:function:{function}"
        for step, function in STEP_FUNCTIONS.items()
    }
)

pytestmark = pytest.mark.skipif(
    not VALIDATOR.exists() or shutil.which("node") is None,
    reason="asl-validator is not installed: node and npm are needed (make install runs npm ci)",
)


def validate(machine: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "fulfilment.asl.json"
    path.write_text(json.dumps(machine, indent=2))
    return subprocess.run(
        [str(VALIDATOR), "--json-path", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_fulfilment_definition_is_valid(tmp_path):
    result = validate(definition(ARNS), tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


def next_to_a_missing_state(machine: dict[str, Any]) -> None:
    machine["States"]["Pay"]["Next"] = "Ship"


def catch_to_a_missing_state(machine: dict[str, Any]) -> None:
    machine["States"]["Reserve"]["Catch"][0]["Next"] = "Backorder"


def start_at_a_missing_state(machine: dict[str, Any]) -> None:
    machine["StartAt"] = "Begin"


def task_without_a_resource(machine: dict[str, Any]) -> None:
    del machine["States"]["Confirm"]["Resource"]


@pytest.mark.parametrize(
    "breakage",
    [
        next_to_a_missing_state,
        catch_to_a_missing_state,
        start_at_a_missing_state,
        task_without_a_resource,
    ],
)
def test_a_broken_definition_is_refused(tmp_path, breakage):
    machine = copy.deepcopy(definition(ARNS))
    breakage(machine)

    result = validate(machine, tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "is invalid" in result.stderr
