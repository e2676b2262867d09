"""The VPC of an aws stack: private subnets per zone, subnet groups and security groups.

Only the services' security group may reach the data tier, and only on its ports.
"""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_aws as aws

from infra.settings import Network as NetworkSettings

# Data-tier ports the services may reach: postgres, redis, kafka IAM / SASL-SCRAM / TLS.
DATA_PORTS: dict[str, int] = {
    "postgres": 5432,
    "redis": 6379,
    "kafka-iam": 9098,
    "kafka-sasl-scram": 9096,
    "kafka-tls": 9094,
}


def subnet_cidrs(vpc_cidr: str, count: int) -> list[str]:
    """`count` private subnets carved out of `vpc_cidr`, 4 bits smaller each (16 fit)."""
    network = ipaddress.ip_network(vpc_cidr, strict=False)
    subnets = network.subnets(prefixlen_diff=4)
    return [str(next(subnets)) for _ in range(count)]


class Network(pulumi.ComponentResource):
    """A VPC with one private subnet per zone, the data tier's subnet groups and SGs."""

    def __init__(
        self, name: str, settings: NetworkSettings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("trading:infra:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=settings.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            opts=child,
        )
        self.subnets = [
            aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=self.vpc.id,
                cidr_block=cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                opts=child,
            )
            for zone, cidr in zip(
                settings.zones, subnet_cidrs(settings.vpc_cidr, len(settings.zones)), strict=True
            )
        ]
        self.subnet_ids: list[pulumi.Output[str]] = [s.id for s in self.subnets]
        self.services_sg, self.data_sg = self._security_groups(name, child)
        self.db_subnet_group = aws.rds.SubnetGroup(
            f"{name}-db", subnet_ids=self.subnet_ids, opts=child
        )
        self.cache_subnet_group = aws.elasticache.SubnetGroup(
            f"{name}-cache", subnet_ids=self.subnet_ids, opts=child
        )
        # MSK has no subnet-group resource: the cluster takes these subnets directly.
        self.broker_subnet_ids = self.subnet_ids
        self.register_outputs({"vpcId": self.vpc.id, "dataSecurityGroupId": self.data_sg.id})

    def _security_groups(
        self, name: str, child: pulumi.ResourceOptions
    ) -> tuple[aws.ec2.SecurityGroup, aws.ec2.SecurityGroup]:
        egress = [
            aws.ec2.SecurityGroupEgressArgs(
                protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"]
            )
        ]
        services = aws.ec2.SecurityGroup(
            f"{name}-services",
            description="The trading services (pods)",
            vpc_id=self.vpc.id,
            egress=egress,
            opts=child,
        )
        data = aws.ec2.SecurityGroup(
            f"{name}-data",
            description="The data tier: reachable only from the services' security group",
            vpc_id=self.vpc.id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description=purpose,
                    protocol="tcp",
                    from_port=port,
                    to_port=port,
                    security_groups=[services.id],
                )
                for purpose, port in DATA_PORTS.items()
            ],
            egress=egress,
            opts=child,
        )
        return services, data
