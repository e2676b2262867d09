"""Loading the Kubernetes client's configuration, with failures as one clear error.

In a pod: the in-cluster service account. Elsewhere: the kubeconfig (`$KUBECONFIG` or
~/.kube/config), at `context` when the stack file names one (`kubernetes.context`).
"""

from __future__ import annotations

from stackspec.errors import RunbookError


def load_kube_config(
    context: str | None, error: type[RunbookError], purpose: str = "talk to"
) -> None:
    """Configure the kubernetes client; raise `error` (one line, a hint) when it cannot.

    The message starts "no Kubernetes cluster to <purpose>: ".
    """
    import yaml
    from kubernetes import config

    try:
        config.load_incluster_config()
        return
    except config.ConfigException:
        pass
    try:
        config.load_kube_config(context=context)
    except (config.ConfigException, OSError, TypeError, ValueError, yaml.YAMLError) as err:
        where = f"context '{context}'" if context else "the current context"
        raise error(
            f"no Kubernetes cluster to {purpose}: the kubeconfig has no usable {where} "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no detail'})",
            hint="for an aws stack: `aws eks update-kubeconfig --name <cluster.name output>`; "
            "else set KUBECONFIG, or kubernetes.context in the stack file",
        ) from None
