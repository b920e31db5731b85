"""Lambda entry of the outbox relay: on a schedule, send what the API could not."""

import logging
from typing import Any

from services.orders import service
from services.orders.wiring import OrdersPorts, ports_from

logger = logging.getLogger(__name__)
_ports: OrdersPorts | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    global _ports
    if _ports is None:
        _ports = ports_from()
    sent = service.relay_outbox(_ports.new_unit_of_work, _ports.publisher)
    if sent:
        logger.info("relayed %d outbox messages", sent)
    return {"sent": sent}
