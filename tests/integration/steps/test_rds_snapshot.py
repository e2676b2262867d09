"""RDS snapshots against moto in SERVER mode (no AWS here: moto emulates the RDS API over
HTTP, and boto3 talks to it through endpoint_url as to the real one), and the db-migration
step taking one before an expand on a real PostgreSQL.

moto makes snapshots and restored instances `available` at once, so the waiters are
exercised for their calls, not for their patience."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from moto.rds import models as rds_models

from runbooks.migrations import ledger
from runbooks.migrations.rds_snapshot import RdsSnapshots, is_valid_identifier
from runbooks.steps.base import StepContext
from runbooks.steps.db_migration import DbMigration
from stackspec.errors import StepError
from tests.integration.adapters.conftest import aws_client
from tests.integration.steps.conftest import context

pytestmark = pytest.mark.integration

EXPAND = "ALTER TABLE public.orders ADD COLUMN IF NOT EXISTS client_ref text;\n"
REVERT = "ALTER TABLE public.orders DROP COLUMN IF EXISTS client_ref;\n"


@pytest.fixture
def rds(moto_endpoint: str) -> Any:
    """An RDS client on the moto server."""
    return aws_client("rds", moto_endpoint)


@pytest.fixture
def writer(rds: Any, moto_endpoint: str) -> str:
    """A fresh PostgreSQL writer in its own subnet group and security group (unique names:
    the moto server is shared by the module)."""
    name = f"staging-w{uuid.uuid4().hex[:8]}"
    ec2 = aws_client("ec2", moto_endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.1.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate("ab")
    ]
    rds.create_db_subnet_group(
        DBSubnetGroupName=f"{name}-subnets", DBSubnetGroupDescription="db", SubnetIds=subnets
    )
    group = ec2.create_security_group(GroupName=f"{name}-data", Description="db", VpcId=vpc)
    rds.create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.t4g.medium",
        Engine="postgres",
        AllocatedStorage=50,
        MasterUsername="trading_admin",
        MasterUserPassword="not-a-secret-1",
        DBSubnetGroupName=f"{name}-subnets",
        VpcSecurityGroupIds=[group["GroupId"]],
    )
    return name


def _snapshots(writer: str, endpoint: str) -> RdsSnapshots:
    return RdsSnapshots(
        writer,
        "us-east-1",
        client=aws_client("rds", endpoint),
        stack="staging",
        service="trading-api",
        poll_seconds=1,
        wait_seconds=10,
    )


def test_take_waits_for_an_available_tagged_snapshot(
    rds: Any, writer: str, moto_endpoint: str
) -> None:
    snapshot_id = _snapshots(writer, moto_endpoint).take("1.4.0")

    assert is_valid_identifier(snapshot_id) and writer in snapshot_id
    found = rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)["DBSnapshots"][0]
    assert (found["Status"], found["DBInstanceIdentifier"]) == ("available", writer)
    tags = {t["Key"]: t["Value"] for t in found["TagList"]}
    assert (tags["stack"], tags["service"], tags["release"]) == ("staging", "trading-api", "1.4.0")


def test_two_snapshots_of_one_release_do_not_collide(writer: str, moto_endpoint: str) -> None:
    snapshots = _snapshots(writer, moto_endpoint)

    assert snapshots.take("1.4.0") != snapshots.take("1.4.0")


def test_a_label_with_invalid_characters_is_sanitized(
    rds: Any, writer: str, moto_endpoint: str
) -> None:
    snapshot_id = _snapshots(writer, moto_endpoint).take("1.4.0+build/7 RC_1")

    assert is_valid_identifier(snapshot_id)
    assert "-1-4-0-build-7-rc-1-" in snapshot_id
    found = rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)["DBSnapshots"][0]
    assert {t["Key"]: t["Value"] for t in found["TagList"]}["release"] == "1.4.0+build/7 RC_1"


def test_restore_creates_a_new_instance_placed_like_the_writer(
    rds: Any, writer: str, moto_endpoint: str
) -> None:
    snapshots = _snapshots(writer, moto_endpoint)
    snapshot_id = snapshots.take("1.4.0")

    address = snapshots.restore(snapshot_id, f"{writer}-restored")

    restored = rds.describe_db_instances(DBInstanceIdentifier=f"{writer}-restored")
    new = restored["DBInstances"][0]
    old = rds.describe_db_instances(DBInstanceIdentifier=writer)["DBInstances"][0]
    assert new["DBInstanceStatus"] == "available"
    assert address == new["Endpoint"]["Address"] != old["Endpoint"]["Address"]
    assert new["DBInstanceClass"] == old["DBInstanceClass"] == "db.t4g.medium"
    assert new["DBSubnetGroup"]["DBSubnetGroupName"] == f"{writer}-subnets"
    assert old["DBInstanceStatus"] == "available"  # the old writer is not touched
    plan = snapshots.restore_plan(snapshot_id)
    assert f"--new-db-instance-identifier {writer}-old" in plan
    assert (
        f"--db-instance-identifier {writer}-restored --new-db-instance-identifier {writer} " in plan
    )


def test_a_missing_instance_is_one_clear_line(moto_endpoint: str) -> None:
    with pytest.raises(StepError) as raised:
        _snapshots("staging-nosuch-writer", moto_endpoint).take("1.4.0")

    message = raised.value.message
    assert "staging-nosuch-writer" in message and "DBInstanceNotFound" in message
    assert "\n" not in message and "Traceback" not in message
    assert "rds_instance_id" in raised.value.hint
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_a_snapshot_not_available_in_time_is_a_step_error_naming_it(
    rds: Any, writer: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto makes snapshots available at once; here they stay "creating", as a large one on
    AWS does for minutes, so the waiter's bound is what ends the wait."""
    original = rds_models.DBSnapshot.__init__

    def creating(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.status = "creating"

    monkeypatch.setattr(rds_models.DBSnapshot, "__init__", creating)
    snapshots = RdsSnapshots(writer, "us-east-1", client=rds, poll_seconds=1, wait_seconds=2)

    started = time.monotonic()
    with pytest.raises(StepError) as raised:
        snapshots.take("1.4.0")

    assert 1.5 <= time.monotonic() - started < 10
    message = raised.value.message
    assert re.search(rf"snapshot release-{writer}-1-4-0-\S+ not available after 2 s", message)
    assert "\n" not in message and "rds_wait_seconds" in raised.value.hint
    mine = rds.describe_db_snapshots(DBInstanceIdentifier=writer, SnapshotType="manual")
    assert [s["Status"] for s in mine["DBSnapshots"]] == ["creating"]  # left to the operator


def test_restoring_a_missing_snapshot_is_a_step_error(writer: str, moto_endpoint: str) -> None:
    with pytest.raises(StepError, match="DBSnapshotNotFound"):
        _snapshots(writer, moto_endpoint).restore("release-nosuch", f"{writer}-restored")


def test_an_invalid_new_instance_id_is_refused_before_any_call(
    writer: str, moto_endpoint: str
) -> None:
    with pytest.raises(StepError, match="invalid RDS instance identifier"):
        _snapshots(writer, moto_endpoint).restore("release-x", "Restored--1")


# The db-migration step with backup_backend "rds-snapshot" (a real PostgreSQL for the SQL,
# moto for the snapshot).


def _migration_ctx(dsn: str, tmp_path: Path, **options: object) -> StepContext:
    folder = tmp_path / "migrations" / "2.0.0"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "migration.yaml").write_text("description: add orders.client_ref\n")
    (folder / "expand.sql").write_text(EXPAND)
    (folder / "revert.sql").write_text(REVERT)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, symbol text)")
        conn.execute("INSERT INTO orders (symbol) SELECT 'SYM' || i FROM generate_series(1, 50) i")
    base = context()
    return StepContext(
        base.stack,
        base.service,
        "2.0.0",
        base.old_color,
        base.new_color,
        {
            "postgres_dsn": dsn,
            "migrations_dir": str(tmp_path / "migrations"),
            "backup_backend": "rds-snapshot",
            "aws_region": "us-east-1",
            "rds_poll_seconds": 1,
            "rds_wait_seconds": 10,
            **options,
        },
    )


def _columns(dsn: str) -> set[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'"
        ).fetchall()
    return {str(r[0]) for r in rows}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials for the clients the step builds itself (moto accepts any)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.mark.usefixtures("aws_env")
def test_step_journals_the_snapshot_as_its_backup(
    dsn: str, tmp_path: Path, rds: Any, writer: str, moto_endpoint: str
) -> None:
    ctx = _migration_ctx(dsn, tmp_path, rds_instance_id=writer, aws_endpoint_url=moto_endpoint)

    applied = DbMigration().apply(ctx)

    assert applied.ok, applied.message
    snapshot_id = applied.data["backup_id"]
    assert applied.data["backup_backend"] == "rds-snapshot"
    assert applied.data["migrated"] is True and "client_ref" in _columns(dsn)
    found = rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)["DBSnapshots"][0]
    assert (found["Status"], found["DBInstanceIdentifier"]) == ("available", writer)
    assert {t["Key"]: t["Value"] for t in found["TagList"]}["release"] == "2.0.0"
    with psycopg.connect(dsn, autocommit=True) as conn:
        entry = ledger.entry(conn, "2.0.0")
    assert entry is not None and entry.backup_id == snapshot_id
    assert "no row evidence" in applied.message
    assert DbMigration().verify(ctx).ok
    undone = DbMigration().undo(ctx, applied)
    assert undone.ok, undone.message
    assert "client_ref" not in _columns(dsn)


@pytest.mark.usefixtures("aws_env")
def test_step_applies_nothing_when_the_snapshot_fails(
    dsn: str, tmp_path: Path, moto_endpoint: str
) -> None:
    ctx = _migration_ctx(
        dsn, tmp_path, rds_instance_id="staging-nosuch-writer", aws_endpoint_url=moto_endpoint
    )

    outcome = DbMigration().apply(ctx)

    assert not outcome.ok
    assert "backup failed, nothing applied" in outcome.message
    assert "DBInstanceNotFound" in outcome.message and "\n" not in outcome.message
    assert "client_ref" not in _columns(dsn)


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"rds_instance_id": None}, "needs the option(s) rds_instance_id"),
        ({"rds_instance_id": "w", "aws_region": None}, "needs the option(s) aws_region"),
        ({"backup_backend": "ebs"}, "unknown backup_backend 'ebs'"),
    ],
)
def test_step_options_are_checked(
    dsn: str, tmp_path: Path, options: dict[str, object], said: str
) -> None:
    outcome = DbMigration().apply(_migration_ctx(dsn, tmp_path, **options))

    assert not outcome.ok and said in outcome.message
    assert "client_ref" not in _columns(dsn)
