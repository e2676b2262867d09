"""Which resources Pulumi refuses to delete: `stateful_opts` for data and keys.

Production's stateful resources (databases, caches, brokers, their KMS keys, the cluster,
the VPC) are declared with `protect=True`: a `pulumi destroy`, a rename or a replacing
change stops with an error instead of deleting data, until someone unprotects the resource
on purpose (`pulumi state unprotect <urn>`). Other stacks stay disposable.
"""

from __future__ import annotations

import pulumi

PROTECTED_STACKS = frozenset({"production"})


def is_protected(stack: str | None = None) -> bool:
    """Whether `stack` (default: the running one) protects its stateful resources."""
    return (stack or pulumi.get_stack()) in PROTECTED_STACKS


def stateful_opts(
    parent: pulumi.Resource | None = None, opts: pulumi.ResourceOptions | None = None
) -> pulumi.ResourceOptions:
    """Options for a stateful resource or key: `opts` (with `parent`), protected in production.

    Use it for anything whose loss loses data or makes data unreadable (RDS, ElastiCache,
    MSK, KMS keys, the EKS cluster); children of components pass `parent=self`.
    """
    own = pulumi.ResourceOptions(parent=parent, protect=is_protected())
    return pulumi.ResourceOptions.merge(opts, own) if opts else own
