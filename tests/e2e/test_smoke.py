"""The smoke tests of a deployed stack (tests/smoke) pass against the session's local stack, so
the suite `make smoke` runs after every deploy is itself tested on every `make test`."""

import os
import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, RunningStack

pytestmark = pytest.mark.e2e


def test_the_smoke_tests_pass_against_the_local_stack(stack: RunningStack) -> None:
    # As `make smoke` runs them: without tests/conftest.py (--confcutdir), from the stack file.
    command = [sys.executable, "-m", "pytest", "tests/smoke", "--confcutdir=tests/smoke", "-q"]
    env = {**os.environ, "SMOKE_STACK": str(stack.state_dir / "stack.json")}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed in " in result.stdout, result.stdout  # none skipped, failed or in error
    assert "skipped" not in result.stdout, result.stdout
