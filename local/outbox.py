"""Where the local stack delivers the e-mails Cognito would have sent: the console and a file."""

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

logger = logging.getLogger("local.outbox")


class Outbox:
    """Messages as JSON lines, newest last, so that people and scripts can read the codes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def send(self, to: str, subject: str, body: str, *, kind: str, code: str) -> None:
        message = {
            "sentAt": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "to": to,
            "subject": subject,
            "body": body,
            "kind": kind,
            "code": code,
        }
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as stream:
                stream.write(json.dumps(message) + "\n")
        logger.info("e-mail to %s (%s): %s", to, subject, body)
