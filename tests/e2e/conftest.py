"""Starts the real local stack (`python -m local`) in a subprocess and drives it over HTTP."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    state_dir: Path
    info: dict[str, Any]
    log: deque[str] = field(default_factory=lambda: deque(maxlen=500))  # its last output lines

    def __post_init__(self) -> None:
        # Read the stack's output as it comes: a pipe nobody reads fills after some thousands of
        # logged requests, and the stack then stops on its next write.
        output = self.process.stdout
        if output is not None:
            threading.Thread(target=lambda: self.log.extend(output), daemon=True).start()

    @property
    def api(self) -> str:
        return str(self.info["apiUrl"])

    def cognito(self) -> Any:
        return boto3.client(
            "cognito-idp", endpoint_url=self.info["awsEndpoint"], region_name=self.info["region"]
        )

    def login(self, email: str, password: str) -> str:
        result = self.cognito().initiate_auth(
            ClientId=self.info["userPoolClientId"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )
        return str(result["AuthenticationResult"]["AccessToken"])

    def last_code(self, email: str, kind: str) -> str:
        """The code in the newest e-mail of `kind` the local Cognito sent to `email`."""
        lines = Path(self.info["outbox"]).read_text().splitlines()
        messages = [json.loads(line) for line in lines]
        matching = [m for m in messages if m["to"] == email and m["kind"] == kind]
        assert matching, f"no {kind} e-mail to {email} in the outbox"
        return str(matching[-1]["code"])

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def start_stack(state_dir: Path, *extra: str) -> RunningStack:
    stack_file = state_dir / "stack.json"
    started = time.time()
    port, aws_port = free_port(), free_port()
    arguments = ["--state-dir", str(state_dir), "--port", str(port), "--aws-port", str(aws_port)]
    process = subprocess.Popen(
        [sys.executable, "-m", "local", *arguments, *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"the local stack exited early:\n{output}")
        if stack_file.exists() and stack_file.stat().st_mtime >= started:
            info = json.loads(stack_file.read_text())
            try:
                requests.get(f"{info['apiUrl']}/products?limit=1", timeout=5).raise_for_status()
                return RunningStack(process, state_dir, info)
            except requests.RequestException:
                pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the local stack did not become ready within 90 s")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("local-stack"))
    yield running
    assert running.stop() == 0
