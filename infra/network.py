"""The VPC of the database-bound functions: private subnets, security groups, a way out to AWS APIs.

Nothing in the VPC has a public address. The functions reach DynamoDB, SQS and Secrets Manager
either through VPC endpoints ("endpoints") or through one NAT gateway ("nat"); docs/cost.md
compares the two. The DynamoDB gateway endpoint is free, so it is there in both cases.
"""

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

VPC_CIDR = "10.0.0.0/16"
PRIVATE_CIDRS = ("10.0.0.0/20", "10.0.16.0/20")  # one per availability zone
PUBLIC_CIDR = "10.0.128.0/24"  # only with the NAT gateway
ANYWHERE = "0.0.0.0/0"
HTTPS = 443
# AWS APIs reached through interface endpoints (the DynamoDB one is a gateway endpoint).
INTERFACE_SERVICES = ("sqs", "secretsmanager")
EGRESS_CHOICES = ("endpoints", "nat")


@dataclass
class NetworkArgs:
    region: str
    egress: str  # "endpoints" or "nat"
    database_port: int
    proxy: bool  # a security group for RDS Proxy between the functions and the database

    def __post_init__(self) -> None:
        if self.egress not in EGRESS_CHOICES:
            raise ValueError(f"egress must be one of {EGRESS_CHOICES}, not {self.egress!r}")


class Network(pulumi.ComponentResource):
    """Two private subnets in two zones; the database reachable only from the functions."""

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecommerce:network:Network", name, None, opts)
        self._name = name
        self._child = pulumi.ResourceOptions(parent=self)
        # Resources the functions need before they can reach the database and the AWS APIs.
        self.ready: list[pulumi.Resource] = []

        zones = aws.get_availability_zones_output(
            state="available",
            # Regular zones only: local and wavelength zones lack most services.
            filters=[
                aws.GetAvailabilityZonesFilterArgs(
                    name="opt-in-status", values=["opt-in-not-required"]
                )
            ],
            opts=pulumi.InvokeOptions(parent=self),  # the parent's provider, hence its region
        )
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=VPC_CIDR,
            enable_dns_support=True,  # both needed for the endpoints' private DNS names
            enable_dns_hostnames=True,
            tags={"Name": f"{name}-vpc"},
            opts=self._child,
        )
        self.private_subnets = [
            aws.ec2.Subnet(
                f"{name}-private-{index}",
                vpc_id=self.vpc.id,
                cidr_block=cidr,
                availability_zone=zones.names[index],
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-private-{index}"},
                opts=self._child,
            )
            for index, cidr in enumerate(PRIVATE_CIDRS)
        ]
        self.private_routes = aws.ec2.RouteTable(
            f"{name}-private-routes",
            vpc_id=self.vpc.id,
            tags={"Name": f"{name}-private"},
            opts=self._child,
        )
        self.private_route_associations = [
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{index}-routes",
                subnet_id=subnet.id,
                route_table_id=self.private_routes.id,
                opts=self._child,
            )
            for index, subnet in enumerate(self.private_subnets)
        ]
        self.ready += self.private_route_associations

        self.functions_group = self._group("functions", "Database-bound functions: egress only")
        self.database_group = self._group("database", "Aurora: PostgreSQL from the functions only")
        self.proxy_group = (
            self._group("proxy", "RDS Proxy: PostgreSQL from the functions only")
            if args.proxy
            else None
        )
        self._database_rules(args.database_port)

        self.dynamodb_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-dynamodb",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{args.region}.dynamodb",
            vpc_endpoint_type="Gateway",
            tags={"Name": f"{name}-dynamodb"},
            opts=self._child,
        )
        self.dynamodb_routes = aws.ec2.VpcEndpointRouteTableAssociation(
            f"{name}-dynamodb-routes",
            vpc_endpoint_id=self.dynamodb_endpoint.id,
            route_table_id=self.private_routes.id,
            opts=self._child,
        )
        self.ready.append(self.dynamodb_routes)
        self.endpoints_group: aws.ec2.SecurityGroup | None = None
        self.interface_endpoints: dict[str, aws.ec2.VpcEndpoint] = {}
        self.nat_gateway: aws.ec2.NatGateway | None = None
        if args.egress == "endpoints":
            self._interface_endpoints(args.region)
        else:
            self._nat_gateway(zones.names[0])

        self.vpc_id = self.vpc.id
        self.private_subnet_ids = [subnet.id for subnet in self.private_subnets]
        self.functions_security_group_id = self.functions_group.id
        self.database_security_group_id = self.database_group.id
        self.proxy_security_group_id = self.proxy_group.id if self.proxy_group else None
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "privateSubnetIds": self.private_subnet_ids,
                "functionsSecurityGroupId": self.functions_security_group_id,
                "databaseSecurityGroupId": self.database_security_group_id,
                "proxySecurityGroupId": self.proxy_security_group_id,
            }
        )

    def _group(self, role: str, description: str) -> aws.ec2.SecurityGroup:
        # No inline rules: the provider then removes AWS's default allow-all egress, and every
        # rule below is its own resource.
        return aws.ec2.SecurityGroup(
            f"{self._name}-{role}",
            vpc_id=self.vpc.id,
            description=description,
            tags={"Name": f"{self._name}-{role}"},
            opts=self._child,
        )

    def _ingress(
        self, rule: str, group: aws.ec2.SecurityGroup, port: int, source: aws.ec2.SecurityGroup
    ) -> None:
        self.ready.append(
            aws.vpc.SecurityGroupIngressRule(
                f"{self._name}-{rule}",
                security_group_id=group.id,
                referenced_security_group_id=source.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                opts=self._child,
            )
        )

    def _egress(
        self,
        rule: str,
        group: aws.ec2.SecurityGroup,
        port: int,
        *,
        to_group: aws.ec2.SecurityGroup | None = None,
        prefix_list_id: pulumi.Input[str] | None = None,
        cidr: str | None = None,
    ) -> None:
        self.ready.append(
            aws.vpc.SecurityGroupEgressRule(
                f"{self._name}-{rule}",
                security_group_id=group.id,
                referenced_security_group_id=to_group.id if to_group else None,
                prefix_list_id=prefix_list_id,
                cidr_ipv4=cidr,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                opts=self._child,
            )
        )

    def _database_rules(self, port: int) -> None:
        functions, database = self.functions_group, self.database_group
        self._ingress("database-from-functions", database, port, functions)
        self._egress("functions-to-database", functions, port, to_group=database)
        if self.proxy_group is not None:
            self._ingress("proxy-from-functions", self.proxy_group, port, functions)
            self._egress("functions-to-proxy", functions, port, to_group=self.proxy_group)
            self._ingress("database-from-proxy", database, port, self.proxy_group)
            self._egress("proxy-to-database", self.proxy_group, port, to_group=database)

    def _interface_endpoints(self, region: str) -> None:
        group = self._group("endpoints", "VPC endpoints: HTTPS from the functions only")
        self.endpoints_group = group
        self._ingress("endpoints-from-functions", group, HTTPS, self.functions_group)
        self._egress("functions-to-endpoints", self.functions_group, HTTPS, to_group=group)
        self._egress(
            "functions-to-dynamodb",
            self.functions_group,
            HTTPS,
            prefix_list_id=self.dynamodb_endpoint.prefix_list_id,
        )
        for service in INTERFACE_SERVICES:
            endpoint = aws.ec2.VpcEndpoint(
                f"{self._name}-{service}",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Interface",
                subnet_ids=[subnet.id for subnet in self.private_subnets],
                security_group_ids=[group.id],
                private_dns_enabled=True,  # the SDK's default hostnames resolve to the endpoint
                tags={"Name": f"{self._name}-{service}"},
                opts=self._child,
            )
            self.interface_endpoints[service] = endpoint
            self.ready.append(endpoint)

    def _nat_gateway(self, zone: pulumi.Input[str]) -> None:
        name, child = self._name, self._child
        self.public_subnet = aws.ec2.Subnet(
            f"{name}-public",
            vpc_id=self.vpc.id,
            cidr_block=PUBLIC_CIDR,
            availability_zone=zone,
            map_public_ip_on_launch=False,  # only the NAT gateway, with its Elastic IP, lives here
            tags={"Name": f"{name}-public"},
            opts=child,
        )
        self.internet_gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags={"Name": f"{name}-igw"}, opts=child
        )
        self.public_routes = aws.ec2.RouteTable(
            f"{name}-public-routes", vpc_id=self.vpc.id, tags={"Name": f"{name}-public"}, opts=child
        )
        self.public_default_route = aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=self.public_routes.id,
            destination_cidr_block=ANYWHERE,
            gateway_id=self.internet_gateway.id,
            opts=child,
        )
        self.public_route_association = aws.ec2.RouteTableAssociation(
            f"{name}-public-routes-association",
            subnet_id=self.public_subnet.id,
            route_table_id=self.public_routes.id,
            opts=child,
        )
        self.nat_address = aws.ec2.Eip(
            f"{name}-nat-ip", domain="vpc", tags={"Name": f"{name}-nat"}, opts=child
        )
        # One gateway, in one zone: if that zone fails, the functions lose the AWS APIs until it
        # is back. A gateway per zone doubles the cost (docs/cost.md).
        self.nat_gateway = aws.ec2.NatGateway(
            f"{name}-nat",
            allocation_id=self.nat_address.allocation_id,
            subnet_id=self.public_subnet.id,
            connectivity_type="public",
            tags={"Name": f"{name}-nat"},
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.internet_gateway, self.public_default_route]
            ),
        )
        self.private_default_route = aws.ec2.Route(
            f"{name}-private-default",
            route_table_id=self.private_routes.id,
            destination_cidr_block=ANYWHERE,
            nat_gateway_id=self.nat_gateway.id,
            opts=child,
        )
        self.ready.append(self.private_default_route)
        self._egress("functions-to-internet", self.functions_group, HTTPS, cidr=ANYWHERE)
