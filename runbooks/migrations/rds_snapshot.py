"""RDS snapshots: the backup taken before an expand on aws stacks, in place of pg_dump.

`RdsSnapshots.take(release)` snapshots the stack's RDS writer (`create_db_snapshot`, tagged
`stack`, `service`, `release`, `taken-by`), waits with boto3's `db_snapshot_available`
waiter for at most `wait_seconds`, and returns the snapshot's identifier, which the
db-migration step journals as its `backup_id`. Identifiers are unique (UTC time and random
hex) and valid for AWS: 1 to 255 lowercase letters, digits and hyphens, a letter first, no
`--`, no trailing hyphen (`snapshot_identifier`; a release label's other characters become
hyphens).

Restoring (the last resort, as with pg_dump: every row written since the snapshot is lost).
AWS never restores a snapshot into an existing instance: `restore_db_instance_from_db_snapshot`
creates a NEW instance with a new identifier, so a new endpoint
(`<identifier>.<hash>.<region>.rds.amazonaws.com`). The Pulumi program (infra/database.py)
names the writer `<stack>-<database>-writer` and has no setting to build it from a
snapshot, so the endpoints switch by RENAMING, the path AWS documents for replacing an
instance ("Renaming to replace an existing DB instance"); the services' `writerEndpoint`
(a DNS name derived from the identifier) stays the same:

1. `restore(snapshot, "<writer>-restored")` creates the new instance in the writer's subnet
   group, security groups, parameter group and class, and waits until it is available.
   The old writer is untouched and still serving.
2. Stop the writers (scale the services to zero, or let the rollback hold traffic).
3. Rename the old writer away: `aws rds modify-db-instance --db-instance-identifier
   <writer> --new-db-instance-identifier <writer>-old --apply-immediately`; wait until it
   is available under its new name.
4. Rename the restored instance to the writer's name: `--db-instance-identifier
   <writer>-restored --new-db-instance-identifier <writer> --apply-immediately`. The DNS
   name `writerEndpoint` now resolves to the restored instance (after the DNS TTL).
5. `pulumi refresh` then `pulumi up` on the stack: the state's writer (keyed by identifier)
   is now the restored instance; `up` puts back whatever the restore did not carry (the
   managed master secret, monitoring, log exports, deletion protection). Read replicas
   still replicate the OLD instance: delete them and let `pulumi up` recreate them from
   the restored writer.
6. Start the services; once satisfied, delete `<writer>-old` (it keeps a final snapshot).

`restore_plan(snapshot)` prints these steps with the real names. Every AWS error becomes a
`StepError` with one line (`<Code>: <Message>`) and a hint; never a traceback.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.exceptions

from stackspec.errors import StepError

MAX_SNAPSHOT_ID = 255
MAX_INSTANCE_ID = 63
DEFAULT_WAIT_SECONDS = 3600.0
DEFAULT_POLL_SECONDS = 30.0
_IDENTIFIER = re.compile(r"^[a-z](?:[a-z0-9]|-(?!-))*(?<!-)$")
_AWS_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


def is_valid_identifier(ident: str, max_length: int = MAX_SNAPSHOT_ID) -> bool:
    """AWS's rule for DB snapshot (255) and instance (63) identifiers, lowercase as RDS
    stores them: letters, digits, hyphens; a letter first; no `--`; no trailing hyphen."""
    return 0 < len(ident) <= max_length and _IDENTIFIER.match(ident) is not None


def _slug(text: str) -> str:
    """`text` lowercased, every run of other characters one hyphen, no edge hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def snapshot_identifier(instance_id: str, release_label: str, now: datetime | None = None) -> str:
    """A unique, AWS-valid snapshot identifier naming the instance and the release:
    `release-<instance>-<label>-<yyyymmddThhmmssZ>-<8 hex>` (the label shortened to fit)."""
    stamp = f"{(now or datetime.now(UTC)):%Y%m%dt%H%M%Sz}-{secrets.token_hex(4)}"
    head = "-".join(part for part in ("release", _slug(instance_id)) if part)
    room = MAX_SNAPSHOT_ID - len(head) - len(stamp) - 2
    label = _slug(release_label)[:room].strip("-")
    ident = "-".join(part for part in (head, label, stamp) if part)
    assert is_valid_identifier(ident), ident  # by construction
    return ident


class RdsSnapshots:
    """Snapshots of one RDS instance: take, and restore into a new instance."""

    def __init__(
        self,
        instance_id: str,
        region: str,
        endpoint_url: str | None = None,
        client: Any = None,
        *,
        stack: str = "",
        service: str = "",
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
    ) -> None:
        self.instance_id = instance_id
        self.region = region
        self._client = client or boto3.client("rds", region_name=region, endpoint_url=endpoint_url)
        self._tags = {"stack": stack, "service": service}
        self._poll = max(1.0, poll_seconds)
        # The waiter sleeps between attempts: n attempts wait (n - 1) polls.
        self._attempts = max(0, int(wait_seconds // self._poll)) + 1

    def take(self, release_label: str) -> str:
        """Snapshot the instance for `release_label`, wait until available; its id."""
        snapshot_id = snapshot_identifier(self.instance_id, release_label)
        tags = {**self._tags, "release": release_label, "taken-by": "runbook db-migration"}
        self._call(
            f"cannot snapshot RDS instance {self.instance_id}",
            "create_db_snapshot",
            DBSnapshotIdentifier=snapshot_id,
            DBInstanceIdentifier=self.instance_id,
            Tags=[{"Key": k, "Value": _tag_value(v)} for k, v in tags.items() if v],
        )
        self._wait(
            "db_snapshot_available", f"snapshot {snapshot_id}", DBSnapshotIdentifier=snapshot_id
        )
        return snapshot_id

    def restore(self, snapshot_id: str, new_instance_id: str) -> str:
        """Create `new_instance_id` from `snapshot_id`, placed like the snapshotted instance
        (while it exists), and wait until it is available; its endpoint address. The old
        instance is not touched: see `restore_plan` for switching the endpoint."""
        if not is_valid_identifier(new_instance_id, MAX_INSTANCE_ID):
            raise StepError(
                f"invalid RDS instance identifier {new_instance_id!r}",
                hint="1 to 63 lowercase letters, digits and hyphens, a letter first, "
                "no '--', no trailing hyphen",
            )
        made = self._call(
            f"cannot restore RDS snapshot {snapshot_id} into {new_instance_id}",
            "restore_db_instance_from_db_snapshot",
            DBInstanceIdentifier=new_instance_id,
            DBSnapshotIdentifier=snapshot_id,
            **self._placement(),
        )
        self._wait(
            "db_instance_available",
            f"instance {new_instance_id}",
            DBInstanceIdentifier=new_instance_id,
        )
        endpoint = made["DBInstance"].get("Endpoint") or self._endpoint(new_instance_id)
        return str(endpoint.get("Address", ""))

    def restore_plan(self, snapshot_id: str) -> str:
        """The operator's steps to put `snapshot_id` behind the writer's endpoint."""
        writer, region = self.instance_id, self.region
        rename = "aws rds modify-db-instance --region {r} --db-instance-identifier {a} " + (
            "--new-db-instance-identifier {b} --apply-immediately"
        )
        return "\n".join(
            [
                f"Restore RDS snapshot {snapshot_id} behind {writer} "
                "(rows written since are lost):",
                f"1. restore it into a new instance {writer}-restored "
                "(RdsSnapshots.restore; the old writer keeps serving) and wait until available",
                "2. stop the services' writers",
                "3. " + rename.format(r=region, a=writer, b=f"{writer}-old"),
                "4. "
                + rename.format(r=region, a=f"{writer}-restored", b=writer)
                + "  (the writer endpoint now resolves to the restored instance)",
                "5. pulumi refresh && pulumi up (re-applies secret, monitoring, protection); "
                "delete the read replicas first: they still follow the old instance",
                f"6. start the services; later delete {writer}-old",
            ]
        )

    def _placement(self) -> dict[str, Any]:
        """The source instance's network, class and parameters (a restore otherwise lands
        in the default VPC with default settings); nothing when it is gone."""
        try:
            found = self._client.describe_db_instances(DBInstanceIdentifier=self.instance_id)
        except _AWS_ERRORS:
            return {}
        source = found["DBInstances"][0]
        placement: dict[str, Any] = {
            "DBInstanceClass": source.get("DBInstanceClass"),
            "MultiAZ": source.get("MultiAZ"),
            "PubliclyAccessible": False,
            "DBSubnetGroupName": (source.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
            "VpcSecurityGroupIds": [
                g["VpcSecurityGroupId"] for g in source.get("VpcSecurityGroups", [])
            ]
            or None,
            "DBParameterGroupName": next(
                (g["DBParameterGroupName"] for g in source.get("DBParameterGroups", [])), None
            ),
            "CopyTagsToSnapshot": source.get("CopyTagsToSnapshot"),
        }
        return {k: v for k, v in placement.items() if v is not None}

    def _endpoint(self, instance_id: str) -> dict[str, Any]:
        found = self._call(
            f"cannot read RDS instance {instance_id}",
            "describe_db_instances",
            DBInstanceIdentifier=instance_id,
        )
        endpoint: dict[str, Any] = found["DBInstances"][0].get("Endpoint") or {}
        return endpoint

    def _call(self, what: str, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, operation)(**kwargs)
        except _AWS_ERRORS as err:
            raise StepError(f"{what}: {_one_line(err)}", hint=_hint(err, self)) from None

    def _wait(self, waiter: str, what: str, **kwargs: Any) -> None:
        config = {"Delay": self._poll, "MaxAttempts": self._attempts}
        try:
            self._client.get_waiter(waiter).wait(WaiterConfig=config, **kwargs)
        except botocore.exceptions.WaiterError as err:
            limit = self._poll * (self._attempts - 1)
            raise StepError(
                f"{what} not available after {limit:.0f} s ({_one_line(err)})",
                hint="see its status in the RDS console; raise rds_wait_seconds if it is slow",
            ) from None
        except _AWS_ERRORS as err:
            raise StepError(f"waiting for {what}: {_one_line(err)}") from None


def _tag_value(value: str) -> str:
    """RDS tag values allow letters, digits, spaces and `_.:/=+-@`, 256 at most."""
    return re.sub(r"[^\w .:/=+\-@]", "_", value)[:256]


def _one_line(err: Exception) -> str:
    if isinstance(err, botocore.exceptions.ClientError):
        error = err.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip()
    return " ".join(str(err).split())


def _hint(err: Exception, snapshots: RdsSnapshots) -> str:
    code = (
        err.response.get("Error", {}).get("Code", "")
        if isinstance(err, botocore.exceptions.ClientError)
        else ""
    )
    if code == "DBSnapshotNotFound":
        return "list the snapshots: aws rds describe-db-snapshots --db-instance-identifier " + (
            snapshots.instance_id
        )
    if code == "DBInstanceNotFound":
        return (
            f"no RDS instance {snapshots.instance_id} in {snapshots.region}: check the step "
            "options rds_instance_id and aws_region (the stack's database writer)"
        )
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
        return (
            "the deployer's role needs rds:CreateDBSnapshot, rds:AddTagsToResource, rds:Describe*"
        )
    return "check the RDS instance, the region and the deployer's credentials"
