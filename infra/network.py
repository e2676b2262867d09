"""The network of an aws stack: the VPC a created cluster lives in, and the data tier's
subnet groups and security group inside the cluster's VPC (created or adopted).

Who may reach the data tier: only the security group the services' pods carry. We use the
EKS *cluster security group* (EKS attaches it to every managed node, and pods without
Security Groups for Pods share their node's interfaces), or the group an adopted cluster
names. Security Groups for Pods would be finer (per service) but need trunk-capable
instance types, the VPC CNI's ENABLE_POD_ENI and a SecurityGroupPolicy per service; the
per-service boundary inside the cluster is drawn by NetworkPolicies instead (default deny,
egress to the data tier only from the services that use it). Ports: postgres, redis and
the one MSK port of `streaming.auth` (`data_ports`). The deploy runner's group
(`aws.network.operatorSecurityGroupId`, for db-migration and the Kafka canary) is admitted
on the database and broker ports only (`operator_ports`).

Egress: nodes pull images through one NAT gateway per zone (a zone's outage does not cut
the others off; public registries such as the External Secrets Operator's keep working),
S3 traffic (ECR image layers) goes through a gateway endpoint, and the data tier's group
has no egress rule at all (RDS, ElastiCache and MSK answer connections, never open them).
The VPC's default security group is closed and every flow is logged.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from infra.ports import POSTGRES_PORT, REDIS_PORT, msk_port
from infra.roles import service_trust
from stackspec.model import Aws as AwsSettings
from stackspec.model import Streaming


def data_ports(streaming: Streaming) -> dict[str, int]:
    """The data-tier ports the services may reach: postgres, redis and the one broker port
    MSK serves `streaming.auth` on (infra.ports.msk_port; 9098 for IAM, all aws stacks)."""
    return {
        "postgres": POSTGRES_PORT,
        "redis": REDIS_PORT,
        f"kafka-{streaming.auth}": msk_port(streaming),
    }


def operator_ports(streaming: Streaming) -> dict[str, int]:
    """What the deploy runner (`aws.network.operatorSecurityGroupId`) may reach: the
    database (db-migration) and the brokers (the Kafka canary); never the cache."""
    return {"postgres": POSTGRES_PORT, f"kafka-{streaming.auth}": msk_port(streaming)}


# What AWS accepts in a security group (and rule) description; moto and preview accept more.
SG_DESCRIPTION = re.compile(r"^[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]{0,255}$")


def sg_description(text: str) -> str:
    """`text` if AWS accepts it as a security group description; ValueError naming the
    offending characters otherwise (CreateSecurityGroup would fail at `pulumi up`)."""
    if not SG_DESCRIPTION.match(text):
        bad = sorted({c for c in text if not SG_DESCRIPTION.match(c)})
        raise ValueError(
            f"security group description {text!r}: characters {bad} are refused by AWS; "
            "allowed: a-zA-Z0-9. _-:/()#,@[]+=&;{}!$* (at most 255)"
        )
    return text


def subnet_cidrs(vpc_cidr: str, count: int) -> list[str]:
    """`count` subnets carved out of `vpc_cidr`, 4 bits smaller each (16 fit)."""
    network = ipaddress.ip_network(vpc_cidr, strict=False)
    subnets = network.subnets(prefixlen_diff=4)
    return [str(next(subnets)) for _ in range(count)]


class Vpc(pulumi.ComponentResource):
    """The VPC of a created cluster: per zone a private subnet (nodes, pods, data tier)
    behind its own NAT gateway and a public one (NAT, internet-facing load balancers);
    flow logs to CloudWatch, default security group without rules.

    `private_subnet_ids` and `vpc_id` are what the cluster and the data tier use.
    """

    def __init__(
        self,
        name: str,
        settings: AwsSettings,
        logs_key_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:Vpc", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        net, zones = settings.network, settings.zones
        self.cidr = net.vpc_cidr
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=net.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            opts=child,
        )
        # Adopting the default group with no rules removes AWS's allow-all rules (EC2.2).
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=self.vpc.id, opts=child)
        cidrs = subnet_cidrs(net.vpc_cidr, 2 * len(zones))
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            opts=child,
        )
        self.private_subnets: list[aws.ec2.Subnet] = []
        private_rts: list[aws.ec2.RouteTable] = []
        for index, zone in enumerate(zones):
            public = self._subnet(f"{name}-public-{zone}", zone, cidrs[len(zones) + index], True)
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}",
                subnet_id=public.id,
                route_table_id=public_rt.id,
                opts=child,
            )
            # A NAT gateway created before the internet gateway is attached fails, and on
            # destroy the attachment must outlive both (DependencyViolation otherwise).
            after_igw = pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[igw])
            )
            eip = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", opts=after_igw)
            nat = aws.ec2.NatGateway(
                f"{name}-nat-{zone}", subnet_id=public.id, allocation_id=eip.id, opts=after_igw
            )
            private = self._subnet(f"{name}-private-{zone}", zone, cidrs[index], False)
            route_table = aws.ec2.RouteTable(
                f"{name}-private-{zone}",
                vpc_id=self.vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}",
                subnet_id=private.id,
                route_table_id=route_table.id,
                opts=child,
            )
            self.private_subnets.append(private)
            private_rts.append(route_table)
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{settings.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_rts],
            opts=child,
        )
        self._flow_logs(name, net.flow_log_retention_days, logs_key_arn)
        self.vpc_id: pulumi.Output[str] = self.vpc.id
        self.private_subnet_ids: list[pulumi.Output[str]] = [s.id for s in self.private_subnets]
        self.register_outputs({"vpcId": self.vpc_id, "privateSubnetIds": self.private_subnet_ids})

    def _subnet(self, name: str, zone: str, cidr: str, public: bool) -> aws.ec2.Subnet:
        # The role tags tell the AWS Load Balancer Controller where each kind of LB goes.
        role = "kubernetes.io/role/elb" if public else "kubernetes.io/role/internal-elb"
        return aws.ec2.Subnet(
            name,
            vpc_id=self.vpc.id,
            cidr_block=cidr,
            availability_zone=zone,
            map_public_ip_on_launch=False,
            tags={role: "1", "Name": name},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _flow_logs(self, name: str, retention_days: int, key_arn: pulumi.Input[str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            retention_in_days=retention_days,
            kms_key_id=key_arn,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=service_trust("vpc-flow-logs.amazonaws.com"),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "logs:CreateLogStream",
                                    "logs:PutLogEvents",
                                    "logs:DescribeLogStreams",
                                ],
                                "Resource": [arn, f"{arn}:*"],
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            opts=child,
        )


class Network(pulumi.ComponentResource):
    """The data tier's place in the cluster's VPC: subnet groups and the data security
    group, which admits `services_sg_id` on the data ports (`data_ports`), `operator_sg_id`
    (if given) on the database and broker ports only, and has no egress.

    `data_sg`, `db_subnet_group`, `cache_subnet_group`, `broker_subnet_ids` are what the
    database, cache and streaming components use.
    """

    def __init__(
        self,
        name: str,
        vpc_id: pulumi.Input[str],
        subnet_ids: Sequence[pulumi.Input[str]],
        services_sg_id: pulumi.Input[str],
        streaming: Streaming,
        operator_sg_id: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.subnet_ids = list(subnet_ids)
        self.services_sg_id = pulumi.Output.from_input(services_sg_id)
        operator = [(p, port, operator_sg_id) for p, port in operator_ports(streaming).items()]
        self.data_sg = aws.ec2.SecurityGroup(
            f"{name}-data",
            description=sg_description(
                "The data tier: reachable only from the security group of the services"
            ),
            vpc_id=vpc_id,
            ingress=[
                *(
                    aws.ec2.SecurityGroupIngressArgs(
                        description=sg_description(f"{purpose} from the services"),
                        protocol="tcp",
                        from_port=port,
                        to_port=port,
                        security_groups=[services_sg_id],
                    )
                    for purpose, port in data_ports(streaming).items()
                ),
                *(
                    aws.ec2.SecurityGroupIngressArgs(
                        description=sg_description(f"{purpose} from the deploy runner"),
                        protocol="tcp",
                        from_port=port,
                        to_port=port,
                        security_groups=[group],
                    )
                    for purpose, port, group in operator
                    if group is not None
                ),
            ],
            # No egress: the managed data services answer connections and open none.
            egress=[],
            opts=child,
        )
        self.db_subnet_group = aws.rds.SubnetGroup(
            f"{name}-db", subnet_ids=self.subnet_ids, opts=child
        )
        self.cache_subnet_group = aws.elasticache.SubnetGroup(
            f"{name}-cache", subnet_ids=self.subnet_ids, opts=child
        )
        # MSK has no subnet-group resource: the cluster takes these subnets directly.
        self.broker_subnet_ids = self.subnet_ids
        self.register_outputs(
            {"dataSecurityGroupId": self.data_sg.id, "servicesSecurityGroupId": services_sg_id}
        )
