"""`runbook evidence export|verify`: signed evidence of a promoted release, and its check.

    runbook evidence export --stack staging --service trading-api --version 1.5.0 \\
        [--out FILE] [--json]
    runbook evidence verify FILE [--stack staging] [--json]

The signing key comes from RUNBOOK_EVIDENCE_KEY (an Ed25519 private key in PEM or base64
raw, or `hmac:<secret>`); verify reads RUNBOOK_EVIDENCE_VERIFY_KEY, else derives it from
the signing key. Keys never appear in output. Verify checks the digest and the signature,
then, with the source stack's journal at hand (--stack, else the stack the evidence
names, when its journal is here), whether the evidence is void; a failed re-verification
is recorded so the evidence stays void.

Exit codes: 0 exported / valid and not void, 1 invalid or void, 2 bad input (no key, no
promoted release of that version, a void release, an unreadable file).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from runbooks.cli.app import EXIT_CODES, app
from runbooks.cli.common import (
    JsonOption,
    ServiceOption,
    StackOption,
    emit_json,
    exits_cleanly,
    say,
)
from runbooks.session import require_service, runbook_state_dir
from stackspec.errors import BadInput, ExitCode
from stackspec.stackfile import load_stack

if TYPE_CHECKING:  # signing and the journal (cryptography, tenacity): when a verb runs
    from runbooks.evidence.verify import Source

evidence_app = typer.Typer(
    name="evidence",
    help="Export and verify signed evidence of a promoted release.\n\n" + EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(evidence_app, name="evidence")


@evidence_app.command("export")
def export(
    stack: StackOption,
    service: ServiceOption,
    version: Annotated[str, typer.Option("--version", help="The promoted version.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="File to write (default: <state dir>/evidence/...)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write the signed evidence of the newest promoted release of SERVICE at VERSION."""
    with exits_cleanly():
        require_service(load_stack(stack), service)
        from runbooks.evidence.export import default_path, export_document, write_document
        from runbooks.evidence.signing import signing_key

        key = signing_key()
        document = export_document(stack, service, version, key)
        path = out or default_path(stack, service, version)
        write_document(document, path)
    body = document["evidence"]
    if as_json:
        emit_json(
            {
                "file": str(path),
                "digest": document["digest"],
                "alg": key.alg,
                "keyId": key.key_id,
                "release": body["release"]["id"],
                "windows": len(body["windows"]),
            }
        )
        return
    say(f"evidence of {service} {version} (release {body['release']['id']}) from stack {stack}")
    say(f"  {len(body['windows'])} analysis windows, soak {body['soak']['secondsAtExport']}s")
    say(f"  digest {document['digest']}, signed {key.alg} by key {key.key_id}")
    say(f"  written to {path}")


@evidence_app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="The evidence file.")],
    stack: Annotated[
        str | None,
        typer.Option("--stack", "-s", help="Source stack whose journal to check against."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check the evidence's digest and signature, and that it is not void."""
    from runbooks.evidence.signing import verify_key
    from runbooks.evidence.verify import read_document, verify_document

    with exits_cleanly():
        key = verify_key()
        document = read_document(file)
        source = _source(stack, document)
        result = verify_document(document, key, source)
        if stack and result.ok and document["evidence"]["stack"]["name"] != stack:
            result.problems.append(
                f"the evidence is from stack '{document['evidence']['stack']['name']}', "
                f"not '{stack}'"
            )
    if as_json:
        emit_json({"file": str(file), **result.as_dict()})
    else:
        for line in result.problems:
            say(f"invalid: {line}")
        for line in result.void:
            say(f"void: {line}")
        if result.ok:
            checked = (
                "re-verified against the source's journal"
                if result.against_source
                else "source journal not reachable here: not re-verified"
            )
            say(f"valid: {file} ({result.digest}; {checked})")
    if not result.ok:
        raise typer.Exit(code=ExitCode.FAILED)


def _source(stack: str | None, document: dict[str, object]) -> Source | None:
    from runbooks.evidence.export import reachable_source

    if stack is not None:
        source = reachable_source(stack)
        if source is None:
            raise BadInput(
                f"stack '{stack}' has no journal at {runbook_state_dir(stack)}",
                hint="leave out --stack to check the digest and signature only",
            )
        return source
    body = document.get("evidence")
    named = body.get("stack", {}).get("name") if isinstance(body, dict) else None
    return reachable_source(named) if isinstance(named, str) and named else None
