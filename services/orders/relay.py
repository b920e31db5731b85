"""Lambda entry of the outbox relay: on a schedule, send what the API could not."""

import logging
from collections.abc import Callable
from typing import Any

from services.common.startup import importing

with importing():
    from services.common.lambda_entry import before_snapshot, once
    from services.common.observability import observed
    from services.orders import service
    from services.orders.wiring import OutboxPorts, relay_ports_from

logger = logging.getLogger(__name__)

RelayHandler = Callable[[dict[str, Any], Any], dict[str, int]]


def relay_handler(build_ports: Callable[[], OutboxPorts] = relay_ports_from) -> RelayHandler:
    """A relay entry that builds its ports on the first event and reuses them after."""
    ports = once(build_ports)
    before_snapshot(ports)

    def handle(event: dict[str, Any], context: Any) -> dict[str, int]:
        sent = service.relay_outbox(ports().new_unit_of_work, ports().publisher)
        if sent:
            logger.info("relayed %d outbox messages", sent)
        return {"sent": sent}

    entry: RelayHandler = observed(handle, lambda event: {})
    return entry


handler = relay_handler()
