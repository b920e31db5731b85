"""Schema migrations applied on deploy: the migrate function, invoked when the migrations change."""

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

MIGRATE_EVENT = json.dumps({"action": "migrate"})


@dataclass
class SchemaMigrationArgs:
    function_name: pulumi.Input[str]
    migrations_digest: str  # infra.packaging.tree_digest of the migrations directory
    # The database (and the way to it) must be up before the function connects.
    depends_on: Sequence[pulumi.Resource]


class SchemaMigration(pulumi.ComponentResource):
    """One synchronous invocation per set of migrations; a failed migration fails the deploy."""

    def __init__(
        self, name: str, args: SchemaMigrationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecommerce:database:SchemaMigration", name, None, opts)
        # A new digest replaces the invocation, which invokes the function again; an unchanged
        # one invokes nothing, so a deploy without new migrations leaves the database alone.
        self.invocation = aws.lambda_.Invocation(
            f"{name}-invocation",
            function_name=args.function_name,
            input=MIGRATE_EVENT,
            triggers={"migrations": args.migrations_digest},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.migrations_digest = args.migrations_digest
        self.register_outputs({"migrationsDigest": self.migrations_digest})
