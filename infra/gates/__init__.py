"""Offline gates: prove a stack's plan deployable without a cloud, a cluster or a network.

Each gate takes the offline plan of a stack (`infra.offline.plan_stack`) and returns a
`GateResult` (`result.py`): what it checked, what failed and why, and what it could not check.

- `kubeschema`: every Kubernetes manifest against the strict OpenAPI schema of a Kubernetes
  release (kubernetes-validate) or a vendored CRD schema (Gateway API, External Secrets).
- `checkov`: checkov (`--skip-download`, own tool venv) on the rendered manifests and on the
  AWS resources rendered as a Terraform plan; failures not in `checkov_skips.yaml` fail it.
- `awsnames`: AWS's naming, charset and length rules (`awsnames.py`, a table with sources).

`python -m infra.gates` (`make validate`) runs them all and prints a report per gate and stack.
Nothing here is imported by the Pulumi program.
"""
