"""Edge-cache purge: after a release (and after its rollback) no stale page is served.

Two backends, picked by the `edge_backend` option ("varnish" by default, or "cloudfront"):

- Varnish (local stack): one HTTP request to `edge_url` with method `edge_ban_method`
  (default "BAN") and header `edge_ban_header: edge_ban_value` (default "X-Ban-Url: ."),
  which the VCL turns into `ban("req.url ~ " + req.http.X-Ban-Url)`; "." is a regex matching
  every URL, so everything is evicted. The VCL must accept the method only from trusted
  clients; any 2xx answer counts as done. The local stack's VCL must carry the same rule:
  `VARNISH_BAN_VCL` below, inside `sub vcl_recv`, with an `acl purgers`.

- CloudFront (aws stacks): `create_invalidation` of `edge_paths` (default ["/*"]) on
  `cloudfront_distribution_id` (the stack output edge.distributionId), then boto3's
  `invalidation_completed` waiter polls every `edge_poll_seconds` (default 20) for at most
  `edge_wait_seconds` (default 600; 0 returns once the invalidation is accepted). Not
  completed in time, or refused: a failed outcome naming the distribution, the
  invalidation and its last status. `aws_region` (default us-east-1, where CloudFront's
  API lives) and `aws_endpoint_url` (a stand-in) pick the endpoint.

`undo` purges again: once traffic is back on the old version, pages the new version put in
the cache must not be served either. Purging is idempotent.
"""

from __future__ import annotations

import math
import time
from typing import Any

import boto3
import botocore.exceptions
import httpx

from runbooks.steps.base import NoContract, StepContext, StepOutcome
from runbooks.steps.redact import redact

_AWS_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)

DEFAULT_BAN_METHOD = "BAN"
DEFAULT_BAN_HEADER = "X-Ban-Url"
DEFAULT_BAN_VALUE = "."
DEFAULT_PATHS = ("/*",)
DEFAULT_WAIT_SECONDS = 600.0
DEFAULT_POLL_SECONDS = 20.0
# The rule the local stack's VCL must carry (inside `sub vcl_recv`, with an `acl purgers`).
VARNISH_BAN_VCL = """\
    if (req.method == "BAN") {
        if (!client.ip ~ purgers) { return (synth(405, "Not allowed")); }
        ban("req.url ~ " + req.http.X-Ban-Url);
        return (synth(200, "Ban added"));
    }"""


class VarnishPurge:
    """Bans every cached object in Varnish with one HTTP request."""

    name = "edge-purge"

    def apply(self, ctx: StepContext) -> StepOutcome:
        """Send the ban; data: the URL, method and header sent."""
        return self._ban(ctx)

    def undo(self, ctx: StepContext, applied: StepOutcome) -> StepOutcome:
        """Ban again, so the reverted version's pages are fetched fresh too."""
        return self._ban(ctx)

    def verify(self, ctx: StepContext) -> StepOutcome:
        """The edge answers (any status below 500)."""
        url = ctx.option("edge_url")
        try:
            status = httpx.get(url, timeout=5).status_code
        except (httpx.HTTPError, TypeError, ValueError) as err:
            return StepOutcome.failure(self.name, redact(f"edge {url} unreachable: {err}"))
        if status >= 500:
            return StepOutcome.failure(self.name, redact(f"edge {url} answers {status}"))
        return StepOutcome.success(self.name, redact(f"edge {url} answers {status}"))

    def _ban(self, ctx: StepContext) -> StepOutcome:
        url = ctx.option("edge_url")
        method = ctx.option("edge_ban_method", DEFAULT_BAN_METHOD)
        header = ctx.option("edge_ban_header", DEFAULT_BAN_HEADER)
        value = ctx.option("edge_ban_value", DEFAULT_BAN_VALUE)
        try:
            response = httpx.request(method, url, headers={header: value}, timeout=10)
        except (httpx.HTTPError, TypeError, ValueError) as err:
            return StepOutcome.failure(self.name, redact(f"{method} {url} failed: {err}"))
        said = f"{method} {url} ({header}: {value}) -> {response.status_code}"
        if not response.is_success:
            return StepOutcome.failure(self.name, redact(f"{said}: the edge refused the ban"))
        return StepOutcome.success(
            self.name, redact(said), backend="varnish", method=method, header=header, value=value
        )


class CloudFrontPurge:
    """Invalidates paths of a CloudFront distribution."""

    name = "edge-purge"

    def __init__(self, client: Any = None) -> None:
        self._client = client

    def apply(self, ctx: StepContext) -> StepOutcome:
        """Create the invalidation; data: distribution id and invalidation id."""
        return self._invalidate(ctx, "apply")

    def undo(self, ctx: StepContext, applied: StepOutcome) -> StepOutcome:
        """Invalidate again, so the reverted version's pages are fetched fresh too."""
        return self._invalidate(ctx, "undo")

    def verify(self, ctx: StepContext) -> StepOutcome:
        """No invalidation of the distribution is still in progress."""
        dist = ctx.option("cloudfront_distribution_id")
        try:
            listing = self._cf(ctx).list_invalidations(DistributionId=dist)["InvalidationList"]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
            return StepOutcome.failure(
                self.name, f"cannot list invalidations of {dist}: {_one_line(err)}"
            )
        pending = [i["Id"] for i in listing.get("Items", []) if i["Status"] != "Completed"]
        if pending:
            return StepOutcome.failure(self.name, f"{dist}: invalidations in progress: {pending}")
        return StepOutcome.success(self.name, f"{dist}: no invalidation in progress")

    def _cf(self, ctx: StepContext) -> Any:
        if self._client is not None:
            return self._client
        return boto3.client(
            "cloudfront",
            region_name=ctx.option("aws_region", "us-east-1"),
            endpoint_url=ctx.option("aws_endpoint_url"),
        )

    def _invalidate(self, ctx: StepContext, why: str) -> StepOutcome:
        dist = ctx.option("cloudfront_distribution_id")
        paths = list(ctx.option("edge_paths", DEFAULT_PATHS))
        # CallerReference makes a retried request (same reference) not a second invalidation.
        reference = f"{ctx.stack}-{ctx.service}-{ctx.version}-{why}-{time.time_ns()}"
        batch = {"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": reference}
        try:
            cf = self._cf(ctx)
            made = cf.create_invalidation(DistributionId=dist, InvalidationBatch=batch)
        except _AWS_ERRORS as err:
            return StepOutcome.failure(
                self.name, f"invalidation of {dist} failed: {_one_line(err)}"
            )
        inval_id = made["Invalidation"]["Id"]
        wait = float(ctx.option("edge_wait_seconds", DEFAULT_WAIT_SECONDS))
        if wait > 0:
            waited = self._wait(cf, dist, inval_id, wait, ctx)
            if waited:
                return StepOutcome.failure(
                    self.name,
                    waited,
                    backend="cloudfront",
                    distribution_id=dist,
                    invalidation_id=inval_id,
                    paths=paths,
                )
        done = "completed" if wait > 0 else "accepted"
        return StepOutcome.success(
            self.name,
            f"invalidated {paths} on {dist} ({inval_id}, {done})",
            backend="cloudfront",
            distribution_id=dist,
            invalidation_id=inval_id,
            paths=paths,
        )

    def _wait(self, cf: Any, dist: str, inval_id: str, wait: float, ctx: StepContext) -> str:
        """Wait for the invalidation to complete; "" when it did, else what went wrong."""
        poll = max(1.0, float(ctx.option("edge_poll_seconds", DEFAULT_POLL_SECONDS)))
        # The waiter sleeps between attempts: n attempts wait (n - 1) polls.
        attempts = math.floor(wait / poll) + 1
        try:
            cf.get_waiter("invalidation_completed").wait(
                DistributionId=dist,
                Id=inval_id,
                WaiterConfig={"Delay": poll, "MaxAttempts": attempts},
            )
        except botocore.exceptions.WaiterError as err:
            answer: Any = err.last_response or {}
            status = answer.get("Invalidation", {}).get("Status")
            error = answer.get("Error", {})
            last = (
                f"last status {status}"
                if status
                else f"last answer {error.get('Code')}: {error.get('Message')}"
            )
            waited = poll * (attempts - 1)
            return (
                f"invalidation {inval_id} of {dist} not completed within {waited:.0f} s "
                f"({last}); raise edge_wait_seconds, or check it in the CloudFront console"
            )
        except _AWS_ERRORS as err:
            return f"waiting for invalidation {inval_id} of {dist} failed: {_one_line(err)}"
        return ""


def _one_line(err: Exception) -> str:
    """A botocore error as one line: `Code: Message` for an AWS answer."""
    if isinstance(err, botocore.exceptions.ClientError):
        error = err.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip()
    return " ".join(str(err).split())


class EdgePurge(NoContract):
    """The registry's "edge-purge": Varnish or CloudFront, per the `edge_backend` option."""

    name = "edge-purge"

    def __init__(self) -> None:
        self._backends: dict[str, VarnishPurge | CloudFrontPurge] = {
            "varnish": VarnishPurge(),
            "cloudfront": CloudFrontPurge(),
        }

    def apply(self, ctx: StepContext) -> StepOutcome:
        """Purge with the configured backend."""
        backend = self._backend(ctx)
        return backend.apply(ctx) if backend else self._unknown(ctx)

    def undo(self, ctx: StepContext, applied: StepOutcome) -> StepOutcome:
        """Purge again with the backend that applied (or the configured one)."""
        backend = self._backend(ctx, applied.data.get("backend"))
        return backend.undo(ctx, applied) if backend else self._unknown(ctx)

    def verify(self, ctx: StepContext) -> StepOutcome:
        """The configured backend's post-condition."""
        backend = self._backend(ctx)
        return backend.verify(ctx) if backend else self._unknown(ctx)

    def _backend(self, ctx: StepContext, name: str | None = None) -> Any:
        return self._backends.get(name or ctx.option("edge_backend", "varnish"))

    def _unknown(self, ctx: StepContext) -> StepOutcome:
        return StepOutcome.failure(
            self.name,
            f"unknown edge_backend {ctx.option('edge_backend')!r}; "
            f"choose one of: {', '.join(sorted(self._backends))}",
        )
