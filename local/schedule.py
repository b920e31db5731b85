"""Scheduled invocations in the local stack: what EventBridge rules do on AWS."""

import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from local.runtime import LambdaRuntime

logger = logging.getLogger("local.schedule")


def scheduled_event(rule: str) -> dict[str, Any]:
    """The event an EventBridge schedule delivers."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:000000000000:rule/{rule}"],
        "detail": {},
    }


class Every:
    """Invoke a function's Lambda entry every `seconds` on a thread, until stopped."""

    def __init__(self, seconds: float, function: str, runtime: LambdaRuntime) -> None:
        self.seconds = seconds
        self.function = function
        self.runtime = runtime
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"every-{function}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopped.wait(self.seconds):
            try:
                self.runtime.invoke(self.function, scheduled_event(f"{self.function}-schedule"))
            except Exception:
                # As on Lambda: a failed run is logged and the schedule carries on.
                logger.exception("scheduled %s failed", self.function)
