"""The staging rehearsal: the local rehearsal's two releases, with an aws stack's own wiring,
AGAINST STAND-INS. Nothing here reaches AWS or a Kubernetes cluster.

`runbook rehearse --stack staging [--router aws-alb|kubernetes]` releases a healthy version
(promoted) and a faulty one (20% of its requests fail: rolled back automatically), and
writes the same report as the local rehearsal (`<report-dir>/rehearsal.html` and `.json`).

Real: the engine (plan, analysis, `decide()`, journal, lock) and every backend as the
stack's wiring builds it (`from_stack(settings, outputs)`): the router, weights set and
read back (aws-alb, the default: the moto ALB's listener; kubernetes, the stack's own
router: the HTTPRoute on the Kubernetes stand-in, built on the stand-in's client), the
cloudwatch metric provider (GetMetricData of the ALB's target groups), the Pulumi driver
(release state written back into the stack's config; deploys through the Kubernetes
deployer, which patches the idle color's Deployment and waits for its rollout), the
db-migration step (an RDS snapshot taken, then the expand; reverted on rollback,
contracted after promotion) and edge-purge (a CloudFront invalidation, waited for).

Stand-ins:
- AWS: a moto server in this process (runbooks.standins.aws): the ALB, a target group per
  color and the listener, CloudWatch, the RDS writer (snapshots only) and the CloudFront
  distribution. boto3 reaches it through AWS_ENDPOINT_URL, with dummy credentials.
- Kubernetes: the API stand-in (runbooks.standins.kube_api), seeded with each service's
  Deployments and Services (and an http service's HTTPRoute) as the stack file records
  them; a rollout completes on the third read.
- Pulumi: the stack's config is a copy of the stack file (runbooks.standins.pulumi_config),
  its outputs those of the stand-ins (`edge.distributionId`, `database.writerIdentifier`).
- PostgreSQL: a private PostgreSQL 15 (samples/schema.sql) in place of the RDS writer,
  which moto cannot run: migrations expand, revert and contract on it.
- Users: simulated load (runbooks.standins.alb_load) split by the router's live weights,
  served by the version each color's Deployment runs, published into CloudWatch.

The rehearsal keeps everything in a work dir of its own (removed unless --keep): the copy
of the stack file, its journal (a real staging release is neither seen nor locked), the
database. Deploys go to the stand-in through a client made for it, never through the
kubeconfig or an in-cluster account, so no real cluster can be touched.

The copy of the stack file differs from it in `rollout.router` (the one chosen; aws-alb's
listener: the stand-in's), `rollout.metrics: cloudwatch` (load balancer: the stand-in's)
only; the db-migration step backs up with an RDS snapshot because the outputs name the
writer (`database.writerIdentifier`), as a deployed aws stack's do. The release steps
are db-migration and edge-purge; cache-bump (ElastiCache) is not rehearsed.

Proves: the stack's engine wiring end to end (settings, outputs, every backend's factory,
deploy as an action, AWS calls as boto3 makes them, the verdicts from CloudWatch's
answers, the rollback in reverse order). Does not prove: IAM, networking, the cluster's
real rollouts, AWS's timings, CloudWatch's one-minute resolution for ALB metrics, or a
real service's behaviour under the new version: the fault is simulated by the load.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from runbooks.core.model import Color, Weights
from runbooks.drivers.pulumi_automation import SERVICES_KEY, PulumiDriver
from runbooks.journal.base import Journal
from runbooks.journal.registry import JOURNALS
from runbooks.local.servers import free_port, postgres_dsn, start_postgres
from runbooks.local.stack import SCHEMA
from runbooks.performer import Backends
from runbooks.rehearsal.report import write_report
from runbooks.rehearsal.run import FAULT, SERVICE, SETTLE_SECONDS, Options, Result, timeline_of
from runbooks.release import OnTurn, rollout
from runbooks.routers.base import TrafficRouter
from runbooks.session import Request, Session
from runbooks.standins.alb_load import SimulatedLoad
from runbooks.standins.aws import (
    REGION,
    MotoServer,
    StagingAws,
    create_staging,
    environment,
    pointed_at,
)
from runbooks.standins.kube_api import KubeApiStandIn
from runbooks.standins.kube_objects import PORT, deployment, httproute, service
from runbooks.standins.pulumi_config import StackFileConfig
from stackspec.errors import BadInput
from stackspec.model import StackSettings, Substrate
from stackspec.stackfile import PROJECT, load_stack, stack_path

ROUTERS = ("aws-alb", "kubernetes")  # where the rehearsal moves traffic
HEALTHY_STEPS = ("db-migration", "edge-purge")
FAULTY_STEPS = ("edge-purge", "db-migration")
DEPLOY_READS = 3  # the stand-in's rollouts: not observed, in progress, then available
Say = Callable[[str], None]


@dataclass(frozen=True)
class StandInSession(Session):
    """A Session whose router, when given, is `router`: the kubernetes router's own factory
    would load a kubeconfig, or a pod's in-cluster account (a real cluster, never wanted
    here). Every other backend is built by its stack factory."""

    router: TrafficRouter | None = None

    def backends(self, steps: tuple[str, ...]) -> Backends:
        if self.router is None:
            return super().backends(steps)
        policy = self.settings.rollout.model_copy(update={"router": "nop"})
        unrouted = replace(self, settings=self.settings.model_copy(update={"rollout": policy}))
        return replace(Session.backends(unrouted, steps), router=self.router)


@dataclass
class World:
    """The stand-ins of one rehearsal and what the sessions are built from."""

    work: Path
    aws: StagingAws
    kube: KubeApiStandIn
    config: StackFileConfig
    namespace: str
    journal: Journal
    kube_api: Any  # kubernetes.client.ApiClient for the stand-in
    router: str  # one of ROUTERS


def is_stand_in_stack(settings: StackSettings) -> bool:
    """Stacks rehearsed against stand-ins: the aws ones (staging, production)."""
    return settings.substrate is Substrate.AWS


def rehearse(
    options: Options, say: Say, on_turn: OnTurn | None = None, router: str = "aws-alb"
) -> Result:
    """Both releases against stand-ins, traffic moved by `router`: "aws-alb" (the listener
    on the moto server) or "kubernetes" (the HTTPRoute on the Kubernetes API stand-in).
    The work dir (stack copy, journal, PostgreSQL) is removed unless `options.keep`."""
    if router not in ROUTERS:
        raise BadInput(
            f"no stand-in router {router!r}", hint=f"choose one of: {', '.join(ROUTERS)}"
        )
    declared = load_stack(options.stack)
    if not is_stand_in_stack(declared):
        raise BadInput(
            f"stack '{options.stack}' is not an aws stack: no stand-in rehearsal for it",
            hint="rehearse the local stack, or an aws stack (staging, production)",
        )
    work = Path(tempfile.mkdtemp(prefix=f"{options.stack}-rehearsal-"))
    work.chmod(0o755)  # PostgreSQL runs as user postgres when we are root
    say(f"rehearsing {options.stack} against stand-ins (moto, Kubernetes API stand-in, ")
    say(f"  simulated load, private PostgreSQL) in {work}")
    try:
        with ExitStack() as stack:
            world = _world(stack, options.stack, declared, work, router, say)
            return _release_twice(options, world, declared, say, on_turn)
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)


def _world(
    stack: ExitStack, name: str, declared: StackSettings, work: Path, router: str, say: Say
) -> World:
    moto = stack.enter_context(MotoServer())
    stack.enter_context(pointed_at(moto.endpoint))
    aws = create_staging(name, SERVICE, declared.service(SERVICE).active_color.value, PORT)
    kube = stack.enter_context(KubeApiStandIn(rollout=DEPLOY_READS))
    namespace = declared.kubernetes.namespace if declared.kubernetes else "trading"
    _seed(kube, declared, namespace)
    port = free_port()
    say(f"starting a private PostgreSQL on 127.0.0.1:{port} (the RDS writer's stand-in)")
    server = start_postgres(work, port)
    stack.callback(server.stop)
    _apply_schema(postgres_dsn(port))
    stack.enter_context(
        environment({"RUNBOOK_DATABASE_DSN": postgres_dsn(port), "RUNBOOK_BACKUP_DIR": str(work)})
    )
    copy = _stack_copy(name, work / "stacks", aws, router)
    outputs = {
        "substrate": "aws",
        "database": {
            "writerIdentifier": aws.rds_instance_id,
            "writerEndpoint": f"{aws.rds_instance_id}.stand-in.{REGION}.rds.amazonaws.com",
        },
        "edge": {"distributionId": aws.distribution_id},
    }
    (work / "runbook").mkdir()
    journal = JOURNALS.create("sqlite", state_dir=work / "runbook")
    api = stack.enter_context(_kube_client(kube))
    say(f"traffic moves through {router} ({_where(router)})")
    return World(work, aws, kube, StackFileConfig(copy, outputs), namespace, journal, api, router)


def _where(router: str) -> str:
    if router == "aws-alb":
        return "the ALB listener's forward weights on the moto server"
    return "the HTTPRoute's backendRef weights on the Kubernetes API stand-in"


def _kube_client(kube: KubeApiStandIn) -> Any:
    from kubernetes import client

    return client.ApiClient(kube.configuration())


def _seed(kube: KubeApiStandIn, declared: StackSettings, namespace: str) -> None:
    """Each service's Deployments as the stack file records them; for an http service also
    its Services and its HTTPRoute, all traffic on the active color."""
    for svc in declared.services:
        for color in Color:
            version = getattr(svc.versions, color.value)
            kube.seed(
                deployment(svc.name, color.value, version, svc.image, namespace, svc.replicas)
            )
            kube.seed(service(f"{svc.name}-{color.value}", svc.name, color.value, namespace))
        if svc.kind == "http":
            active = Weights.all_on(svc.active_color)
            kube.seed(service(svc.name, svc.name, svc.active_color.value, namespace))
            kube.seed(httproute(svc.name, active.blue, active.green, namespace))


def _live_router(world: World) -> TrafficRouter:
    """The router of `world.router`, on its stand-in."""
    if world.router == "aws-alb":
        from runbooks.routers.aws_alb import AwsAlbRouter

        return AwsAlbRouter({SERVICE: world.aws.listener_arn})
    from kubernetes import client

    from runbooks.routers.kubernetes_route import KubernetesRouter

    api = world.kube_api
    return KubernetesRouter(world.namespace, client.CustomObjectsApi(api), client.CoreV1Api(api))


def _stack_copy(stack: str, directory: Path, aws: StagingAws, router: str) -> Path:
    """The stack file with the stand-ins' router and metrics; returns its path."""
    document = yaml.safe_load(stack_path(stack).read_text(encoding="utf-8"))
    rollout_policy = document["config"].setdefault(f"{PROJECT}:rollout", {})
    rollout_policy["router"] = router
    if router == "aws-alb":
        rollout_policy["alb"] = {"listenerArns": {SERVICE: aws.listener_arn}}
    metrics = rollout_policy.setdefault("metrics", {})
    metrics.update(provider="cloudwatch", loadBalancer=aws.load_balancer_arn)
    metrics.pop("url", None)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _session(world: World, stack: str) -> Session:
    """The stack as the engine sees it now: the copy's settings, the driver, the outputs."""
    from kubernetes import client

    from runbooks.deploy.kubernetes import KubernetesDeployer

    settings = load_stack(stack, world.config.path.parent)
    apps = client.AppsV1Api(world.kube_api)
    driver = PulumiDriver(
        stack,
        world.work,
        stack_factory=lambda _stack, _dir: world.config,
        deployer=lambda: KubernetesDeployer(world.namespace, apps, 60.0, 0.2),
        images={s.name: s.image for s in settings.services},
    )
    outputs = driver.read_outputs(stack)
    # the aws-alb router is built by its own factory (boto3 reaches the moto server)
    router = _live_router(world) if world.router == "kubernetes" else None
    return StandInSession(stack, settings, driver, outputs, router)


def _release_twice(
    options: Options, world: World, declared: StackSettings, say: Say, on_turn: OnTurn | None
) -> Result:
    base = declared.service(SERVICE).active_version.split("-r", 1)[0]
    stamp = time.strftime("%Y%m%d%H%M%S")
    healthy = Request(options.stack, SERVICE, f"{base}-r{stamp}a", HEALTHY_STEPS, None, "1.1.0")
    faulty = Request(options.stack, SERVICE, f"{base}-r{stamp}b", FAULTY_STEPS, None, "1.2.0")
    router = _live_router(world)
    load = SimulatedLoad(
        lambda: router.get_weights(SERVICE),
        lambda color: _running_version(world, color),
        world.aws.load_balancer_arn,
        world.aws.target_groups,
        options.rate,
        float(FAULT["error_rate"]),
    )
    load.faulty.add(faulty.version)
    start = time.time()
    load.start()
    try:
        releases = [
            _release(world, healthy, "healthy", say, on_turn),
            _release(world, faulty, "faulty (20% 5xx, simulated)", say, on_turn),
        ]
        time.sleep(SETTLE_SECONDS)  # traffic after the rollback, for the report's tail
    finally:
        hits = load.stop()
    _say_aws(world, say)
    _say_deployed(world, say)
    timeline = timeline_of(world.journal, start, hits, releases)
    html, data = write_report(timeline, options.report_dir)
    return Result(timeline, html, data)


def _release(
    world: World, request: Request, kind: str, say: Say, on_turn: OnTurn | None
) -> tuple[str, Request, float]:
    say(f"releasing {kind} {request.service} {request.version} with {', '.join(request.steps)}")
    began = time.time()
    session = _session(world, request.stack)
    release_id, outcome = rollout(request, session, world.journal, on_turn=on_turn)
    say(f"  {request.version}: {outcome.value} after {time.time() - began:.1f}s")
    return release_id, request, began


def _running_version(world: World, color: Color) -> str:
    name = f"{SERVICE}-{color.value}"
    found = world.kube.get("apps/v1", world.namespace, "deployments", name)
    return str(found["metadata"]["labels"]["version"])


def _say_aws(world: World, say: Say) -> None:
    """What the releases left in the AWS stand-in: snapshots and invalidations."""
    import boto3

    snapshots = boto3.client("rds").describe_db_snapshots(
        DBInstanceIdentifier=world.aws.rds_instance_id, SnapshotType="manual"
    )["DBSnapshots"]
    listing = boto3.client("cloudfront").list_invalidations(
        DistributionId=world.aws.distribution_id
    )["InvalidationList"]
    say(
        f"stand-in AWS: {len(snapshots)} RDS snapshot(s) of {world.aws.rds_instance_id} "
        f"({', '.join(s['DBSnapshotIdentifier'] for s in snapshots) or 'none'}); "
        f"{listing.get('Quantity', 0)} CloudFront invalidation(s) of {world.aws.distribution_id}"
    )


def _say_deployed(world: World, say: Say) -> None:
    """Where the releases left the service: the release state Pulumi's config records (the
    rehearsal's copy of the stack file) and what each color's Deployment runs."""
    services = json.loads(world.config.get_config(SERVICES_KEY).value)
    entry = next(s for s in services if s["name"] == SERVICE)
    versions = entry["versions"]
    say(
        f"stack config (the rehearsal's copy): {SERVICE} active {entry['activeColor']}, "
        f"versions blue {versions['blue']}, green {versions['green']}"
    )
    for color in Color:
        name = f"{SERVICE}-{color.value}"
        found = world.kube.get("apps/v1", world.namespace, "deployments", name)
        image = found["spec"]["template"]["spec"]["containers"][0]["image"]
        say(f"Kubernetes stand-in: deployment {name} runs {image}")


def _apply_schema(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA.read_text(encoding="utf-8"))
