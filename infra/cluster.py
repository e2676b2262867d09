"""The Kubernetes cluster a stack deploys to, and the explicit provider every Kubernetes
resource uses.

On aws stacks the cluster is either created by the stack (`aws.cluster.created`: EKS with a
private API endpoint, secrets envelope-encrypted with a KMS key, every control-plane log
type, a managed node group with IMDSv2 and encrypted disks, the IAM OIDC provider for IRSA,
the VPC CNI add-on with network policy enabled and the metrics-server add-on) or adopted
(`aws.cluster.adopted`: an existing EKS cluster given by config). Either way the program
gets a `ClusterInfo`: VPC and its CIDR, subnets, the services' security group, the OIDC
provider and a kubeconfig that authenticates with `aws eks get-token` (no long-lived credential).

EKS enforces NetworkPolicies only when the VPC CNI add-on runs with `enableNetworkPolicy`;
otherwise the API server accepts them and nothing enforces them. A created cluster gets
the add-on so configured (`VPC_CNI_CONFIG`); an adopted cluster must have it already, which
the operator ensures (see `AdoptedCluster` in stackspec.model).

The HorizontalPodAutoscalers of the services read CPU from the resource metrics API, which
only metrics-server serves: a created cluster gets EKS's `metrics-server` add-on (after its
nodes, where its pods run); an adopted cluster must run it already, or its HPAs never scale.

On the kubernetes substrate the provider uses the configured kubeconfig context
(`kubernetes.context`), never the operator's current one; default providers are disabled
in the stack files, so a resource without the explicit provider fails to deploy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.keys import account_root_policy
from infra.network import Vpc
from infra.protection import stateful_opts
from infra.roles import MANAGED_POLICY, role_with
from stackspec.model import EKS_LOG_TYPES, AdoptedCluster, CreatedCluster
from stackspec.model import Aws as AwsSettings
from stackspec.model import Kubernetes as KubernetesSettings
from stackspec.stackfile import PROJECT, Problem, StackFileError, stack_path

NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy")
NODE_POLICIES_ECR = "AmazonEC2ContainerRegistryReadOnly"
AMI_TYPE = "AL2023_x86_64_STANDARD"
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# How long a Helm release may take (its `timeout`, seconds): the chart's pods are scheduled
# only once the nodes have joined, and pull their images through NAT on a fresh cluster.
HELM_TIMEOUT_SECONDS = 600
VPC_CNI = "vpc-cni"
METRICS_SERVER = "metrics-server"
# The add-on's schema takes the flag as a string, not a JSON boolean.
VPC_CNI_CONFIG = json.dumps({"enableNetworkPolicy": "true"})


@dataclass(frozen=True)
class ClusterInfo:
    """What the rest of the program needs from the cluster, created or adopted."""

    name: pulumi.Output[str]
    vpc_id: pulumi.Output[str]
    # The VPC's CIDR: where the services' egress to the data tier may go (infra.netpol).
    vpc_cidr: pulumi.Output[str]
    subnet_ids: list[pulumi.Output[str]]
    services_sg_id: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    # The issuer without its scheme, as IAM condition keys spell it (oidc.eks.../id/...).
    oidc_issuer: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    # What must exist before anything runs in the cluster: on a created cluster its node
    # group and add-ons (an active control plane schedules nothing without nodes, and pods
    # get no IP without the VPC CNI); empty for an adopted cluster, whose nodes exist.
    ready: tuple[pulumi.Resource, ...] = ()


def kubeconfig(
    name: pulumi.Input[str],
    endpoint: pulumi.Input[str],
    ca_data: pulumi.Input[str],
    region: str,
) -> pulumi.Output[str]:
    """A kubeconfig (JSON) for the cluster that gets a short-lived token from
    `aws eks get-token` on every use."""

    def render(args: list[str]) -> str:
        cluster, server, ca = args
        user = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "aws",
                "args": ["eks", "get-token", "--cluster-name", cluster, "--region", region],
                "interactiveMode": "Never",
            }
        }
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": cluster,
                        "cluster": {"server": server, "certificate-authority-data": ca},
                    }
                ],
                "users": [{"name": cluster, "user": user}],
                "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
                "current-context": cluster,
            }
        )

    return pulumi.Output.all(name, endpoint, ca_data).apply(render)


@dataclass(frozen=True)
class Account:
    """The account and partition the region's provider acts in (for ARNs in key policies)."""

    id: pulumi.Output[str]
    partition: pulumi.Output[str]

    @staticmethod
    def of(provider: pulumi.ProviderResource) -> Account:
        """The caller's account, read through `provider`."""
        invoke = pulumi.InvokeOptions(provider=provider)
        return Account(
            aws.get_caller_identity_output(opts=invoke).account_id,
            aws.get_partition_output(opts=invoke).partition,
        )

    def key_policy(self, region: str, for_logs: bool = False) -> pulumi.Output[str]:
        """A key policy: the account administers the key through IAM (the default key
        policy, written out); with `for_logs`, CloudWatch Logs of this account may use it."""

        def render(args: list[str]) -> str:
            acct, part = args
            extra = [_logs_statement(acct, part, region)] if for_logs else []
            return account_root_policy(acct, part, extra)

        return pulumi.Output.all(self.id, self.partition).apply(render)


def _logs_statement(acct: str, part: str, region: str) -> dict[str, object]:
    return {
        "Sid": "CloudWatchLogs",
        "Effect": "Allow",
        "Principal": {"Service": f"logs.{region}.amazonaws.com"},
        "Action": [
            "kms:Encrypt*",
            "kms:Decrypt*",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:Describe*",
        ],
        "Resource": "*",
        "Condition": {
            "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:{part}:logs:{region}:{acct}:*"}
        },
    }


def logs_key(name: str, region: str, account: Account, opts: pulumi.ResourceOptions) -> aws.kms.Key:
    """A KMS key CloudWatch Logs may use for this account's log groups (flow logs, EKS,
    and the data tier's logs)."""
    return aws.kms.Key(
        name,
        description=f"{name}: CloudWatch Logs encryption (flow logs, EKS control plane)",
        enable_key_rotation=True,
        policy=account.key_policy(region, for_logs=True),
        opts=opts,
    )


class EksCluster(pulumi.ComponentResource):
    """An EKS cluster created by the stack, in `vpc`'s private subnets. See the module doc."""

    def __init__(
        self,
        name: str,
        settings: CreatedCluster,
        region: str,
        subnet_ids: Sequence[pulumi.Input[str]],
        logs_key_arn: pulumi.Input[str],
        account: Account,
        vpc_cidr: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("trading:infra:EksCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster_name = f"trading-{pulumi.get_stack()}"
        self.secrets_key = aws.kms.Key(
            f"{name}-secrets-key",
            description=f"{name}: envelope encryption of Kubernetes secrets",
            enable_key_rotation=True,
            policy=account.key_policy(region),
            opts=stateful_opts(self),
        )
        role, attached = role_with(
            f"{name}-role",
            "eks.amazonaws.com",
            {f"{name}-role-cluster": MANAGED_POLICY + "AmazonEKSClusterPolicy"},
            child,
        )
        # EKS writes to /aws/eks/<name>/cluster: declared first so retention and key hold.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/eks/{cluster_name}/cluster",
            retention_in_days=365,
            kms_key_id=logs_key_arn,
            opts=child,
        )
        public = settings.public_access_cidrs
        self.cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=cluster_name,
            version=settings.version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(subnet_ids),
                endpoint_private_access=True,
                endpoint_public_access=bool(public),
                public_access_cidrs=list(public) if public else None,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=self.secrets_key.arn),
                resources=["secrets"],
            ),
            enabled_cluster_log_types=list(EKS_LOG_TYPES),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            opts=stateful_opts(self, pulumi.ResourceOptions(depends_on=[*attached, log_group])),
        )
        self.network_addon = aws.eks.Addon(
            f"{name}-vpc-cni",
            cluster_name=self.cluster.name,
            addon_name=VPC_CNI,
            configuration_values=VPC_CNI_CONFIG,
            # EKS installs vpc-cni itself (self-managed): taking it over, and every later
            # update, must overwrite its fields, or the network policy flag never lands.
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=child,
        )
        self.node_group = self._node_group(name, settings, subnet_ids)
        # Its pods need nodes: created before them, the add-on stays DEGRADED and the create
        # times out.
        self.metrics_addon = aws.eks.Addon(
            f"{name}-metrics-server",
            cluster_name=self.cluster.name,
            addon_name=METRICS_SERVER,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.node_group]),
        )
        for index, role_arn in enumerate(settings.admin_role_arns):
            self._admin(f"{name}-admin-{index + 1}", role_arn)
        issuer_url = self.cluster.identities.apply(
            lambda ids: _known(ids[0].oidcs[0].issuer if ids[0].oidcs else None, "OIDC issuer")
        )
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer_url,
            client_id_lists=["sts.amazonaws.com"],
            opts=child,
        )
        self.info = ClusterInfo(
            name=self.cluster.name,
            vpc_id=self.cluster.vpc_config.apply(lambda c: _known(c.vpc_id, "VPC id")),
            vpc_cidr=pulumi.Output.from_input(vpc_cidr),
            subnet_ids=[pulumi.Output.from_input(s) for s in subnet_ids],
            services_sg_id=self.cluster.vpc_config.apply(
                lambda c: _known(c.cluster_security_group_id, "cluster security group")
            ),
            oidc_provider_arn=self.oidc_provider.arn,
            oidc_issuer=issuer_url.apply(lambda u: u.removeprefix("https://")),
            kubeconfig=kubeconfig(
                self.cluster.name,
                self.cluster.endpoint,
                self.cluster.certificate_authority.apply(lambda c: _known(c.data, "CA data")),
                region,
            ),
            ready=(self.node_group, self.network_addon),
        )
        self.register_outputs(
            {"name": self.cluster.name, "oidcProviderArn": self.oidc_provider.arn}
        )

    def _admin(self, name: str, role_arn: str) -> None:
        child = pulumi.ResourceOptions(parent=self)
        entry = aws.eks.AccessEntry(
            name, cluster_name=self.cluster.name, principal_arn=role_arn, opts=child
        )
        aws.eks.AccessPolicyAssociation(
            name,
            cluster_name=self.cluster.name,
            principal_arn=role_arn,
            policy_arn=CLUSTER_ADMIN_POLICY,
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[entry]),
        )

    def _node_group(
        self, name: str, settings: CreatedCluster, subnet_ids: Sequence[pulumi.Input[str]]
    ) -> aws.eks.NodeGroup:
        child = pulumi.ResourceOptions(parent=self)
        nodes = settings.node_group
        role, attached = role_with(
            f"{name}-nodes",
            "ec2.amazonaws.com",
            {f"{name}-nodes-{p}": MANAGED_POLICY + p for p in (*NODE_POLICIES, NODE_POLICIES_ECR)},
            child,
        )
        template = aws.ec2.LaunchTemplate(
            f"{name}-nodes",
            # IMDSv2 only, one hop: pods cannot borrow the node's role; they use IRSA.
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=nodes.disk_gb, volume_type="gp3", encrypted="true"
                    ),
                )
            ],
            opts=child,
        )
        return aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=self.cluster.name,
            node_role_arn=role.arn,
            subnet_ids=list(subnet_ids),
            ami_type=AMI_TYPE,
            instance_types=list(nodes.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=nodes.min_size, desired_size=nodes.desired_size, max_size=nodes.max_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=attached),
        )


def _known(value: str | None, what: str) -> str:
    # EKS reports these once the cluster is active; None means the provider returned less.
    if value is None:
        raise ValueError(f"EKS returned no {what} for the cluster")
    return value


def adopted_cluster(
    settings: AdoptedCluster, region: str, provider: pulumi.ProviderResource
) -> ClusterInfo:
    """The `ClusterInfo` of an existing cluster: ids from config, endpoint and CA read from
    EKS (nothing is created or changed in the adopted cluster's account resources)."""
    found = aws.eks.get_cluster_output(
        name=settings.name, opts=pulumi.InvokeOptions(provider=provider)
    )
    return ClusterInfo(
        name=pulumi.Output.from_input(settings.name),
        vpc_id=pulumi.Output.from_input(settings.vpc_id),
        vpc_cidr=pulumi.Output.from_input(settings.vpc_cidr),
        subnet_ids=[pulumi.Output.from_input(s) for s in settings.subnet_ids],
        services_sg_id=pulumi.Output.from_input(settings.security_group_id),
        oidc_provider_arn=pulumi.Output.from_input(settings.oidc_provider_arn),
        oidc_issuer=pulumi.Output.from_input(settings.oidc_issuer_url.removeprefix("https://")),
        kubeconfig=kubeconfig(
            settings.name,
            found.endpoint,
            found.certificate_authorities.apply(lambda cas: cas[0].data),
            region,
        ),
    )


@dataclass(frozen=True)
class AwsCluster:
    """The cluster side of an aws stack: the cluster's info, its VPC when created, and the
    KMS key every CloudWatch log group of the stack is encrypted with."""

    info: ClusterInfo
    vpc: Vpc | None
    logs_key: aws.kms.Key


def declare_aws_cluster(settings: AwsSettings, provider: pulumi.ProviderResource) -> AwsCluster:
    """Create (VPC, EKS) or adopt the stack's cluster, per `aws.cluster`; the logs key."""
    opts = pulumi.ResourceOptions(provider=provider)
    account = Account.of(provider)
    key = logs_key("logs-key", settings.region, account, stateful_opts(opts=opts))
    adopted = settings.cluster.adopted
    if adopted is not None:
        return AwsCluster(adopted_cluster(adopted, settings.region, provider), None, key)
    created = settings.cluster.created
    assert created is not None  # the settings model requires exactly one
    vpc = Vpc("network", settings, key.arn, opts=opts)
    eks = EksCluster(
        "cluster",
        created,
        settings.region,
        vpc.private_subnet_ids,
        key.arn,
        account,
        vpc.cidr,
        opts=opts,
    )
    return AwsCluster(eks.info, vpc, key)


def kubernetes_provider(
    kubeconfig_json: pulumi.Input[str] | None,
    settings: KubernetesSettings,
    ready: Sequence[pulumi.Resource] = (),
) -> k8s.Provider:
    """The one Kubernetes provider of the stack: from the cluster's kubeconfig on aws
    stacks, else from the configured context. Raises StackFileError when neither is set.

    `ready` (`ClusterInfo.ready`): the provider waits for these, and so does every resource
    that uses it (Helm releases included), so nothing is applied to a cluster without nodes."""
    key = f"{PROJECT}:kubernetes.context"
    if kubeconfig_json is not None:
        if settings.context is not None:
            # Ignoring it would let an operator believe the stack deploys to that context.
            allowed = "not allowed on aws stacks: the provider uses the stack's EKS cluster"
            problem = Problem(key, repr(settings.context), allowed)
            raise StackFileError(stack_path(pulumi.get_stack()), [problem])
        return k8s.Provider(
            "cluster",
            kubeconfig=kubeconfig_json,
            namespace=settings.namespace,
            opts=pulumi.ResourceOptions(depends_on=list(ready)),
        )
    if settings.context is None:
        allowed = "required on the kubernetes substrate: the kubeconfig context to deploy to"
        raise StackFileError(stack_path(pulumi.get_stack()), [Problem(key, "missing", allowed)])
    return k8s.Provider("cluster", context=settings.context, namespace=settings.namespace)
