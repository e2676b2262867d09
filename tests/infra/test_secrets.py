"""infra.secrets: the ExternalSecret renders each service's connection strings (aws stacks).

Every test reads the offline plan, computed under pulumi.runtime.set_mocks (the stand-in
for the engine, infra.offline; FAKE_OUTPUTS gives the endpoints real providers compute).
ESO's Go template is rendered here by substituting `{{ .KEY | urlquery }}` with Python's
`quote_plus` (what Go's url.QueryEscape does), then parsed by the clients the services use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import quote_plus

import pytest
from psycopg.conninfo import conninfo_to_dict
from redis.connection import parse_url

from infra.bluegreen import CREDENTIALS_MOUNT
from infra.offline import FAKE_OUTPUTS, SECRET_MASK
from infra.secrets import (
    FILE_ENV,
    PASSWORD_KEY,
    POSTGRES_DSN_KEY,
    REDIS_URL_KEY,
    TOKEN_KEY,
    USERNAME_KEY,
    credentials_secret_name,
)
from stackspec.stackfile import load_stack
from tests.infra.conftest import Plan, of_type, only

EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
RDS = "aws:rds/instance:Instance"
REDIS_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
SECRETS_MANAGER = "aws:secretsmanager/secret:Secret"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
AWS_STACKS = ("staging", "production")
ACTION = re.compile(r"\{\{ \.([A-Z_]+) \| urlquery \}\}")
# Characters a password may hold that a URL would otherwise misread.
NASTY = "p:w/d?x#y&z=%41+!$*"


def _render(template: str, values: dict[str, str]) -> str:
    """What ESO's engine v2 makes of `template` (only the actions the program uses)."""
    rest = ACTION.sub("", template)
    assert "{{" not in rest, f"an action this test does not render: {template}"
    return ACTION.sub(lambda m: quote_plus(values[m.group(1)]), template)


def _external_secret(plan: Plan, service: str) -> dict[str, object]:
    found = [
        r
        for r in of_type(plan, EXTERNAL_SECRET)
        if r.props["metadata"]["name"] == credentials_secret_name(service)
    ]
    assert len(found) == 1
    spec: dict[str, object] = found[0].props["spec"]
    return spec


def _writer(plan: Plan) -> tuple[str, str]:
    """The RDS writer's endpoint (host:port, as the mocked provider reports) and database."""
    writers = [r for r in of_type(plan, RDS) if "replicateSourceDb" not in r.props]
    assert len(writers) == 1
    writer = writers[0]
    return FAKE_OUTPUTS[RDS]["endpoint"].format(name=writer.name), writer.props["dbName"]


def _secret_arn(plan: Plan, type_: str, name_part: str) -> str:
    (secret,) = [r for r in of_type(plan, type_) if name_part in r.name]
    return str(FAKE_OUTPUTS[SECRETS_MANAGER]["arn"]).format(name=secret.name)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_template_fetches_the_right_keys_and_renders_only_the_connection_strings(
    plans: Callable[[str], Plan], stack: str
) -> None:
    """Under set_mocks: username and password come from RDS's managed secret, the token
    from the cache's secret, and the synced Secret holds only the two rendered keys."""
    plan = plans(stack)
    token_arn = _secret_arn(plan, SECRETS_MANAGER, "auth-token")
    for svc in load_stack(stack).services:
        spec = _external_secret(plan, svc.name)
        refs = {d["secretKey"]: d["remoteRef"] for d in spec["data"]}  # type: ignore[attr-defined]
        assert refs[USERNAME_KEY]["property"] == "username"
        assert refs[PASSWORD_KEY]["property"] == "password"
        assert refs[USERNAME_KEY]["key"] == refs[PASSWORD_KEY]["key"]
        assert ":secret:rds!" in refs[PASSWORD_KEY]["key"]
        assert refs[TOKEN_KEY] == {"key": token_arn}
        template = spec["target"]["template"]  # type: ignore[index]
        assert template["engineVersion"] == "v2"
        assert template["mergePolicy"] == "Replace"
        assert set(template["data"]) == {POSTGRES_DSN_KEY, REDIS_URL_KEY}
        # Every action names a key ESO fetches (a missing key fails the sync).
        for text in template["data"].values():
            assert set(ACTION.findall(text)) <= set(refs)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_rendered_dsn_reaches_the_writer_with_the_fetched_credentials(
    plans: Callable[[str], Plan], stack: str
) -> None:
    """Under set_mocks: rendered with a password full of URL delimiters, the DSN parses
    (libpq, as psycopg does) back to that user and password, the writer's endpoint and
    database, with TLS required."""
    plan = plans(stack)
    endpoint, database = _writer(plan)
    host, port = endpoint.rsplit(":", 1)
    for svc in load_stack(stack).services:
        template = _external_secret(plan, svc.name)["target"]["template"]  # type: ignore[index]
        dsn = _render(
            template["data"][POSTGRES_DSN_KEY], {USERNAME_KEY: "admin", PASSWORD_KEY: NASTY}
        )
        assert dsn.startswith("postgresql://")
        parsed = conninfo_to_dict(dsn)
        assert parsed == {
            "user": "admin",
            "password": NASTY,
            "host": host,
            "port": port,
            "dbname": database,
            "sslmode": "require",
        }


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_rendered_redis_url_reaches_the_primary_over_tls_with_the_token(
    plans: Callable[[str], Plan], stack: str
) -> None:
    """Under set_mocks: the URL is rediss:// (the group encrypts in transit) to the primary
    endpoint, database 0, and redis-py reads the token back intact."""
    plan = plans(stack)
    (group,) = of_type(plan, REDIS_GROUP)
    assert group.props["transitEncryptionEnabled"] is True
    primary = FAKE_OUTPUTS[REDIS_GROUP]["primaryEndpointAddress"].format(name=group.name)
    for svc in load_stack(stack).services:
        template = _external_secret(plan, svc.name)["target"]["template"]  # type: ignore[index]
        url = _render(template["data"][REDIS_URL_KEY], {TOKEN_KEY: NASTY})
        assert url.startswith("rediss://")
        parsed = parse_url(url)
        assert parsed["password"] == NASTY
        assert (parsed["host"], parsed["port"], parsed["db"]) == (primary, group.props["port"], 0)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_pods_name_the_rendered_files_under_the_mount(
    plans: Callable[[str], Plan], stack: str
) -> None:
    """Under set_mocks: each container's TRADING_*_FILE variables point at the rendered
    keys under the credentials mount, and every rendered key is read by a variable."""
    plan = plans(stack)
    expected = {env: f"{CREDENTIALS_MOUNT}/{key}" for key, env in FILE_ENV.items()}
    for svc in load_stack(stack).services:
        template = _external_secret(plan, svc.name)["target"]["template"]  # type: ignore[index]
        assert {FILE_ENV[key] for key in template["data"]} == set(expected)
        for color in ("blue", "green"):
            pod = only(plan, DEPLOYMENT, f"{svc.name}-{color}").props["spec"]["template"]["spec"]
            for container in pod["containers"]:
                env = {e["name"]: e.get("value") for e in container["env"]}
                assert {k: env.get(k) for k in expected} == expected
                assert "TRADING_POSTGRES_DSN" not in env and "TRADING_REDIS_URL" not in env


def test_dev_pods_get_no_credential_files(plans: Callable[[str], Plan]) -> None:
    """Under set_mocks: dev has no ESO; its pods keep the in-cluster defaults."""
    plan = plans("dev")
    assert of_type(plan, EXTERNAL_SECRET) == []
    for deployment in of_type(plan, DEPLOYMENT):
        for container in deployment.props["spec"]["template"]["spec"]["containers"]:
            names = {e["name"] for e in container.get("env", [])}
            assert names.isdisjoint(FILE_ENV.values())


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_plan_holds_no_credential(plans: Callable[[str], Plan], stack: str) -> None:
    """Under set_mocks: the Redis token (the mocked RandomPassword's result) is masked
    everywhere, and the ExternalSecrets carry no Pulumi secret at all: their templates are
    built from endpoints only, so nothing in them needed masking."""
    plan = plans(stack)
    text = json.dumps([r.props for r in plan])
    assert "mock-password-" not in text
    for resource in of_type(plan, EXTERNAL_SECRET):
        assert SECRET_MASK not in json.dumps(resource.props)


def test_deployments_wait_for_their_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under set_mocks: each service's Deployments depend on that service's ExternalSecret
    (awaited until Ready: ESO has written `<svc>-data-credentials`, which the pods mount as
    required); its ServiceAccount does not (ESO authenticates as it: waiting would deadlock)."""
    import pulumi_kubernetes as k8s

    from infra.offline import plan_stack

    created: dict[str, object] = {}
    options: dict[str, object] = {}

    def recording(module: object, name: str) -> None:
        original = getattr(module, name)

        class Recording(original):  # type: ignore[misc, valid-type]
            def __init__(self, resource_name: str, *args: object, **kwargs: object) -> None:
                options[resource_name] = kwargs.get("opts")
                super().__init__(resource_name, *args, **kwargs)
                created[resource_name] = self

        monkeypatch.setattr(module, name, Recording)

    recording(k8s.apiextensions, "CustomResource")
    recording(k8s.apps.v1, "Deployment")
    recording(k8s.core.v1, "ServiceAccount")
    plan = plan_stack("production")
    for service, other in (("trading-api", "market-data"), ("market-data", "trading-api")):
        mine = created[f"secret-delivery-{service}-credentials"]
        theirs = created[f"secret-delivery-{other}-credentials"]
        for color in ("blue", "green"):
            depends = getattr(options[f"{service}-{color}"], "depends_on", None) or []
            assert mine in depends and theirs not in depends
        account = getattr(options[f"{service}-account"], "depends_on", None) or []
        assert mine not in account
        external = next(r for r in plan if r.name == f"secret-delivery-{service}-credentials")
        assert external.props["metadata"]["annotations"] == {
            "pulumi.com/waitFor": "condition=Ready"
        }
