"""The one factory for AWS clients: built lazily, once per container, and replaceable by tests.

The endpoint comes from boto3's own configuration (for example `AWS_ENDPOINT_URL`), which is how
the local stack points the same code at its fake AWS endpoint without a branch in service code.

A factory's clients share one SDK session: the session loads the endpoint and retry data once,
so a second client costs about a tenth of the first (a session per client cost the orders
function some 150 ms of its cold start; see docs/performance.md).
"""

from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

from services.common.settings import Settings

# Fail fast inside an API request; botocore's standard retry mode backs off on throttling.
CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 3},
)


class AwsClients:
    def __init__(self, settings: Settings, session: boto3.session.Session | None = None) -> None:
        self._settings = settings
        self._session = session

    @cached_property
    def session(self) -> boto3.session.Session:
        """The session every client of this factory is made from (one per container)."""
        return self._session or boto3.session.Session()

    def _client(self, service: str) -> Any:
        return self.session.client(service, region_name=self._settings.region, config=CLIENT_CONFIG)

    @cached_property
    def dynamodb(self) -> Any:
        return self._client("dynamodb")

    @cached_property
    def cognito(self) -> Any:
        return self._client("cognito-idp")

    @cached_property
    def sqs(self) -> Any:
        return self._client("sqs")

    @cached_property
    def secrets(self) -> Any:
        return self._client("secretsmanager")

    @cached_property
    def stepfunctions(self) -> Any:
        return self._client("stepfunctions")
