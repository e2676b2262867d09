"""`runbook config validate|migrate|diff`: check and convert versioned service configuration.

    runbook config validate [--service S] [--file F] [--json]   every file, one service's, or one
    runbook config migrate --service S --from N --to M [--write] [--json]
                                        print v<N> converted to schema M, or write v<M>.yaml;
                                        refused (exit 2, nothing written) if M -> N would not
                                        give the same document back, naming what would be lost
    runbook config diff --service S --from N --to M [--json]
                                        key-by-key changes from v<N> (read as schema M) to v<M>

Files: `config/<service>/v<N>.yaml` (or `--config-dir`, or `$RUNBOOK_CONFIG_DIR`).
Exit codes: 0 done, 2 bad input (an invalid file, an unknown service or version, a lossy
conversion, a file that would be overwritten); nothing is written unless it all succeeded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from runbooks.cli.app import EXIT_CODES, app
from runbooks.cli.common import JsonOption, emit_json, errors, exits_cleanly, say
from runbooks.config import convert, files
from runbooks.config.files import ConfigFileError, LoadedConfig
from runbooks.config.registry import SCHEMAS, schemas_for
from stackspec.errors import BadInput
from stackspec.stackfile import Problem

config_app = typer.Typer(
    name="config",
    help="Validate, convert and compare versioned service configuration.\n\n" + EXIT_CODES,
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(config_app, name="config")

ServiceOption = Annotated[str, typer.Option("--service", help="Service with a configuration.")]
FromOption = Annotated[int, typer.Option("--from", help="Configuration version to read (N).")]
ToOption = Annotated[int, typer.Option("--to", help="Schema version to convert to (M).")]
WriteOption = Annotated[
    bool, typer.Option("--write", help="Write v<M>.yaml instead of printing it.")
]
DirOption = Annotated[
    Path | None,
    typer.Option("--config-dir", help="Config dir (default: $RUNBOOK_CONFIG_DIR or config/)."),
]


@config_app.command("validate")
def validate(
    service: Annotated[
        str | None, typer.Option("--service", help="Only this service's files.")
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Only this file.")] = None,
    config_dir: DirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate every configuration file (or one service's, or one file); exit 2 if any is bad."""
    with exits_cleanly():
        results = [
            _check(path, svc, version) for path, svc, version in _targets(service, file, config_dir)
        ]
    bad = [r for r in results if r["problems"]]
    if as_json:
        emit_json({"ok": not bad, "files": results})
    else:
        for result in results:
            if result["problems"]:
                errors.print(f"error: {result['path']}: invalid configuration", markup=False)
                for problem in result["problems"]:
                    errors.print(f"  - {problem}", markup=False)
            else:
                say(f"ok  {result['path']} ({result['service']}, schema {result['version']})")
    if bad:
        raise typer.Exit(code=BadInput.exit_code)


@config_app.command("migrate")
def migrate(
    service: ServiceOption,
    source: FromOption,
    target: ToOption,
    write: Annotated[
        bool, typer.Option("--write", help="Write v<M>.yaml instead of printing.")
    ] = False,
    config_dir: DirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Convert v<N> of SERVICE to schema M; refuse a conversion that would lose a setting."""
    with exits_cleanly():
        loaded = files.load_version(service, source, config_dir)
        converted = convert.migrate(service, loaded.document, source, target)
        lost = convert.round_trip_loss(service, loaded.document, source, target)
        if lost:
            _refuse_loss(service, source, target, lost)
        written = _write(service, target, converted, config_dir) if write else None
    if as_json:
        emit_json(
            {
                "service": service,
                "from": source,
                "to": target,
                "document": converted,
                "written": None if written is None else str(written),
            }
        )
    elif written is not None:
        say(f"wrote {written}")
    else:
        typer.echo(files.to_yaml(converted), nl=False)


@config_app.command("diff")
def diff(
    service: ServiceOption,
    source: FromOption,
    target: ToOption,
    config_dir: DirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show what changes from v<N> to v<M> of SERVICE, key by key, in schema M's terms."""
    with exits_cleanly():
        old = files.load_version(service, source, config_dir)
        new = files.load_version(service, target, config_dir)
        read_as = convert.migrate(service, old.document, source, target)
        changes = convert.diff(read_as, new.document)
        lost = convert.round_trip_loss(service, old.document, source, target)
    if as_json:
        emit_json(
            {
                "service": service,
                "from": source,
                "to": target,
                "changes": [c.as_json() for c in changes],
                "not_in_target_schema": [c.key for c in lost],
            }
        )
        return
    say(f"{service}: v{source} -> v{target} (v{source} read as schema {target})")
    for change in changes:
        typer.echo(f"  {change}")
    for change in lost:
        typer.echo(
            f"  - {change.key}: {convert.show(change.old)} (schema {target} has no such key)"
        )
    say(f"{len(changes)} change(s)" if changes else "no changes")


def _targets(
    service: str | None, file: Path | None, config_dir: Path | None
) -> list[tuple[Path, str, int | None]]:
    """(path, service, version its name declares) per file to validate.

    A file given with --file may have any name (e.g. a rendered copy): version None, not
    checked. A file found in a service folder must be v<N>.yaml: version 0 marks one that is not.
    """
    if file is not None:
        svc = service or file.resolve().parent.name
        schemas_for(svc)
        match = files.VERSION_FILE.match(file.name)
        return [(file, svc, int(match.group(1)) if match else None)]
    root = files.config_dir(config_dir)
    names = [service] if service else sorted(p.name for p in root.iterdir() if p.is_dir())
    if not names:
        raise BadInput(f"{root}: no service folders", hint=f"services: {sorted(SCHEMAS)}")
    found: list[tuple[Path, str, int | None]] = []
    for name in names:
        schemas_for(name)
        paths = sorted((root / name).glob("*.y*ml"))
        if not paths:
            raise BadInput(f"{root / name}: no configuration files", hint="write v1.yaml")
        for path in paths:
            match = files.VERSION_FILE.match(path.name)
            found.append((path, name, int(match.group(1)) if match else 0))
    return found


def _check(path: Path, service: str, version: int | None) -> dict[str, Any]:
    """One file's result; a name that is not v<N>.yaml (version 0) is itself a problem."""
    result: dict[str, Any] = {"path": str(path), "service": service, "version": None}
    if version == 0:
        result["problems"] = [str(Problem("(file name)", repr(path.name), "allowed: v<N>.yaml"))]
        return result
    try:
        loaded: LoadedConfig = files.load_file(path, service, expect_version=version)
    except ConfigFileError as err:
        result["problems"] = [str(p) for p in err.problems]
        return result
    result.update(version=loaded.version, problems=[])
    return result


def _refuse_loss(service: str, source: int, target: int, lost: list[convert.Change]) -> None:
    what = ", ".join(f"{c.key} ({convert.show(c.old)})" for c in lost)
    raise BadInput(
        f"{service}: converting v{source} to schema {target} would lose: {what}",
        hint=f"schema {target} cannot hold these settings; set them to their defaults in "
        f"v{source} first, or keep schema {source}",
    )


def _write(service: str, version: int, document: dict[str, Any], config_dir: Path | None) -> Path:
    path = files.version_path(service, version, config_dir)
    if path.exists():
        existing = files.load_file(path, service, expect_version=version)
        if existing.document == document:
            return path
        raise BadInput(
            f"{path} exists and differs from the conversion; nothing written",
            hint="remove it first, or write elsewhere with --config-dir",
        )
    return files.write_version(files.to_yaml(document), service, version, config_dir)
