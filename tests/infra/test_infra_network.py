"""The VPC: private subnets in two zones, the database reachable only from the functions, and
the configured way out to the AWS APIs (a NAT gateway in the test stack, endpoints built here)."""

import ipaddress
from typing import Any

import pulumi
import pytest

from infra.network import Network, NetworkArgs
from tests.infra.mocking import (
    AVAILABILITY_ZONES,
    DYNAMODB_PREFIX_LIST,
    Created,
    Declared,
    MockStack,
    RecordingMocks,
    pulumi_test,
)

INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
NAT_TYPES = (
    "aws:ec2/natGateway:NatGateway",
    "aws:ec2/eip:Eip",
    "aws:ec2/internetGateway:InternetGateway",
)
POSTGRES, HTTPS = 5432, 443


def _rules(created: list[Created], typ: str, group_id: str) -> set[tuple[Any, ...]]:
    """(port, protocol, peer) of each rule of one security group; the peer is a group id, a
    prefix list or a CIDR."""
    rules = set()
    for rule in (c for c in created if c.typ == typ and c.inputs["securityGroupId"] == group_id):
        inputs = rule.inputs
        assert inputs["fromPort"] == inputs["toPort"], rule.name  # one port, never a range
        peers = [
            inputs.get(key)
            for key in ("referencedSecurityGroupId", "prefixListId", "cidrIpv4", "cidrIpv6")
            if inputs.get(key)
        ]
        assert len(peers) == 1, rule.name
        rules.add((int(inputs["fromPort"]), inputs["ipProtocol"], peers[0]))
    return rules


@pulumi_test
def test_vpc_has_dns_and_two_private_subnets_in_two_zones(program: dict[str, Any]) -> Any:
    network: Network = program["network"]
    subnets = [
        pulumi.Output.all(s.availability_zone, s.cidr_block, s.map_public_ip_on_launch, s.vpc_id)
        for s in network.private_subnets
    ]

    def check(args: list[Any]) -> None:
        vpc_id, cidr, dns_support, dns_hostnames, rows = args
        assert (dns_support, dns_hostnames) == (True, True)
        assert len(rows) == 2
        zones = [row[0] for row in rows]
        assert len(set(zones)) == 2
        assert set(zones) <= set(AVAILABILITY_ZONES)
        for _, subnet_cidr, public_ip, subnet_vpc in rows:
            assert public_ip is False
            assert subnet_vpc == vpc_id
            assert ipaddress.IPv4Network(subnet_cidr).subnet_of(ipaddress.IPv4Network(cidr))

    vpc = network.vpc
    return pulumi.Output.all(
        vpc.id,
        vpc.cidr_block,
        vpc.enable_dns_support,
        vpc.enable_dns_hostnames,
        pulumi.Output.all(*subnets),
    ).apply(check)


@pulumi_test
def test_database_takes_postgres_only_from_the_functions_and_the_proxy(
    program: dict[str, Any], declared: Declared
) -> Any:
    network: Network = program["network"]
    assert network.proxy_group is not None  # rdsProxy is on in the test stack

    def check(ids: list[str]) -> None:
        functions, database, proxy = ids
        created = declared.created
        assert _rules(created, INGRESS, database) == {
            (POSTGRES, "tcp", functions),
            (POSTGRES, "tcp", proxy),
        }
        assert _rules(created, EGRESS, database) == set()  # it answers; it never calls out
        assert _rules(created, INGRESS, proxy) == {(POSTGRES, "tcp", functions)}
        assert _rules(created, EGRESS, proxy) == {(POSTGRES, "tcp", database)}

    return pulumi.Output.all(
        network.functions_group.id, network.database_group.id, network.proxy_group.id
    ).apply(check)


@pulumi_test
def test_functions_group_only_sends_to_postgres_and_https(
    program: dict[str, Any], declared: Declared
) -> Any:
    network: Network = program["network"]
    assert network.proxy_group is not None

    def check(ids: list[str]) -> None:
        functions, database, proxy = ids
        assert _rules(declared.created, INGRESS, functions) == set()
        assert _rules(declared.created, EGRESS, functions) == {
            (POSTGRES, "tcp", database),
            (POSTGRES, "tcp", proxy),
            (HTTPS, "tcp", "0.0.0.0/0"),  # the AWS APIs through the NAT gateway
        }

    return pulumi.Output.all(
        network.functions_group.id, network.database_group.id, network.proxy_group.id
    ).apply(check)


def test_no_security_group_declares_inline_rules(declared: Declared) -> None:
    groups = declared.of_type("aws:ec2/securityGroup:SecurityGroup")
    assert groups
    for group in groups:
        assert not group.inputs.get("ingress"), group.name
        assert not group.inputs.get("egress"), group.name


def test_nothing_accepts_traffic_from_an_address_range(declared: Declared) -> None:
    ingress = declared.of_type(INGRESS)
    assert ingress
    for rule in ingress:
        assert rule.inputs.get("referencedSecurityGroupId"), rule.name
        assert not rule.inputs.get("cidrIpv4"), rule.name
        assert not rule.inputs.get("cidrIpv6"), rule.name


@pulumi_test
def test_nat_egress_routes_the_private_subnets_through_one_nat_gateway(
    program: dict[str, Any], declared: Declared
) -> Any:
    network: Network = program["network"]
    assert program["config"].vpc_egress == "nat"
    assert network.nat_gateway is not None
    assert network.interface_endpoints == {}

    def check(args: list[Any]) -> None:
        private_routes, public_routes, nat_id, igw_id, public_subnet = args
        routes = {
            (r.inputs["routeTableId"], r.inputs.get("natGatewayId"), r.inputs.get("gatewayId"))
            for r in declared.of_type("aws:ec2/route:Route")
            if r.inputs["destinationCidrBlock"] == "0.0.0.0/0"
        }
        assert routes == {(private_routes, nat_id, None), (public_routes, None, igw_id)}
        (nat,) = declared.of_type("aws:ec2/natGateway:NatGateway")
        assert nat.inputs["subnetId"] == public_subnet
        assert nat.inputs["allocationId"]  # its Elastic IP
        assert [e.inputs["vpcEndpointType"] for e in declared.of_type(ENDPOINT)] == ["Gateway"]

    return pulumi.Output.all(
        network.private_routes.id,
        network.public_routes.id,
        network.nat_gateway.id,
        network.internet_gateway.id,
        network.public_subnet.id,
    ).apply(check)


@pulumi_test
def test_dynamodb_gateway_endpoint_serves_the_private_subnets(
    program: dict[str, Any], stack: MockStack
) -> Any:
    network: Network = program["network"]

    def check(args: list[Any]) -> None:
        service, kind, routes_endpoint, routes_table, endpoint_id, private_routes = args
        assert (service, kind) == (f"com.amazonaws.{stack.region}.dynamodb", "Gateway")
        assert (routes_endpoint, routes_table) == (endpoint_id, private_routes)

    endpoint, association = network.dynamodb_endpoint, network.dynamodb_routes
    return pulumi.Output.all(
        endpoint.service_name,
        endpoint.vpc_endpoint_type,
        association.vpc_endpoint_id,
        association.route_table_id,
        endpoint.id,
        network.private_routes.id,
    ).apply(check)


@pulumi_test
def test_endpoints_egress_has_the_three_endpoints_and_no_nat(
    stack: MockStack, mocks: RecordingMocks
) -> Any:
    network = Network(
        "endpoints-net",
        NetworkArgs(region=stack.region, egress="endpoints", database_port=POSTGRES, proxy=False),
    )
    assert network.nat_gateway is None
    assert network.proxy_group is None
    assert network.endpoints_group is not None
    interfaces = [
        pulumi.Output.all(
            e.service_name,
            e.vpc_endpoint_type,
            e.private_dns_enabled,
            e.subnet_ids,
            e.security_group_ids,
        )
        for e in network.interface_endpoints.values()
    ]

    def check(args: list[Any]) -> None:
        rows, subnets, functions, database, endpoints_group, _ = args
        assert sorted(rows) == [
            [
                f"com.amazonaws.{stack.region}.{service}",
                "Interface",
                True,
                subnets,
                [endpoints_group],
            ]
            for service in ("secretsmanager", "sqs")
        ]
        created = [c for c in mocks.created if c.name.startswith("endpoints-net-")]
        assert not [c for c in created if c.typ in NAT_TYPES]
        assert not [c for c in created if c.typ == "aws:ec2/route:Route"]  # no way out
        assert len([c for c in created if c.typ == ENDPOINT]) == 3
        assert _rules(created, INGRESS, endpoints_group) == {(HTTPS, "tcp", functions)}
        assert _rules(created, EGRESS, functions) == {
            (POSTGRES, "tcp", database),
            (HTTPS, "tcp", endpoints_group),
            (HTTPS, "tcp", DYNAMODB_PREFIX_LIST),
        }
        assert _rules(created, INGRESS, database) == {(POSTGRES, "tcp", functions)}

    return pulumi.Output.all(
        pulumi.Output.all(*interfaces),
        pulumi.Output.all(*network.private_subnet_ids),
        network.functions_group.id,
        network.database_group.id,
        network.endpoints_group.id,
        pulumi.Output.all(*(resource.urn for resource in network.ready)),  # all registered
    ).apply(check)


def test_network_refuses_an_unknown_egress(stack: MockStack) -> None:
    with pytest.raises(ValueError, match="egress"):
        NetworkArgs(region=stack.region, egress="internet", database_port=POSTGRES, proxy=False)
