"""Edge-cache purge: after a release (and after its rollback) no stale page is served.

Two backends, picked by the `edge_backend` option ("varnish" by default, or "cloudfront"):

- Varnish (local stack): one HTTP request to `edge_url` with method `edge_ban_method`
  (default "BAN") and header `edge_ban_header: edge_ban_value` (default "X-Ban-Url: ."),
  which the VCL turns into `ban("req.url ~ " + req.http.X-Ban-Url)`; "." is a regex matching
  every URL, so everything is evicted. The VCL must accept the method only from trusted
  clients; any 2xx answer counts as done. The local stack's VCL must carry the same rule:
  `VARNISH_BAN_VCL` below, inside `sub vcl_recv`, with an `acl purgers`.

- CloudFront (aws stacks): `create_invalidation` of `edge_paths` (default ["/*"]) on
  `cloudfront_distribution_id`; with `edge_wait_seconds` > 0 it waits that long for the
  invalidation to complete (otherwise it returns once it is accepted).

`undo` purges again: once traffic is back on the old version, pages the new version put in
the cache must not be served either. Purging is idempotent.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
import botocore.exceptions
import httpx

from runbooks.steps.base import NoContract, StepContext, StepOutcome
from runbooks.steps.redact import redact

DEFAULT_BAN_METHOD = "BAN"
DEFAULT_BAN_HEADER = "X-Ban-Url"
DEFAULT_BAN_VALUE = "."
DEFAULT_PATHS = ("/*",)
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
            listing = self._cf().list_invalidations(DistributionId=dist)["InvalidationList"]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
            return StepOutcome.failure(self.name, f"cannot list invalidations of {dist}: {err}")
        pending = [i["Id"] for i in listing.get("Items", []) if i["Status"] != "Completed"]
        if pending:
            return StepOutcome.failure(self.name, f"{dist}: invalidations in progress: {pending}")
        return StepOutcome.success(self.name, f"{dist}: no invalidation in progress")

    def _cf(self) -> Any:
        if self._client is None:
            self._client = boto3.client("cloudfront")
        return self._client

    def _invalidate(self, ctx: StepContext, why: str) -> StepOutcome:
        dist = ctx.option("cloudfront_distribution_id")
        paths = list(ctx.option("edge_paths", DEFAULT_PATHS))
        # CallerReference makes a retried request (same reference) not a second invalidation.
        reference = f"{ctx.stack}-{ctx.service}-{ctx.version}-{why}-{time.time_ns()}"
        batch = {"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": reference}
        try:
            cf = self._cf()
            made = cf.create_invalidation(DistributionId=dist, InvalidationBatch=batch)
            inval_id = made["Invalidation"]["Id"]
            wait = float(ctx.option("edge_wait_seconds", 0))
            if wait > 0:
                cf.get_waiter("invalidation_completed").wait(
                    DistributionId=dist,
                    Id=inval_id,
                    WaiterConfig={"Delay": 5, "MaxAttempts": max(1, int(wait // 5))},
                )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
            return StepOutcome.failure(self.name, f"invalidation of {dist} failed: {err}")
        return StepOutcome.success(
            self.name,
            f"invalidated {paths} on {dist} ({inval_id})",
            backend="cloudfront",
            distribution_id=dist,
            invalidation_id=inval_id,
            paths=paths,
        )


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
