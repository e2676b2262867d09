"""`runbook config` on the command line: exit codes, messages, nothing written on refusal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import runbooks.cli.config  # noqa: F401  # registers `config` on the app
from runbooks.cli.app import app
from runbooks.config.files import PROJECT_ROOT


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A copy of the shipped config/ the test may change."""
    target = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", target)
    return target


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["config", *args])
    return result.exit_code, result.stdout, result.stderr


def test_validate_every_shipped_file() -> None:
    code, out, _ = run("validate")
    assert code == 0
    assert "trading-api/v2.yaml (trading-api, schema 2)" in out


def test_validate_json_lists_each_file() -> None:
    code, out, _ = run("validate", "--service", "trading-api", "--json")
    payload = json.loads(out)
    assert code == 0 and payload["ok"] is True
    assert [f["version"] for f in payload["files"]] == [1, 2]


def test_a_bad_file_exits_2_naming_file_key_and_allowed(config_dir: Path) -> None:
    bad = config_dir / "trading-api" / "v2.yaml"
    bad.write_text("schemaVersion: 2\norders: {maxQuantity: -1, color: red}\n")
    code, out, err = run("validate", "--config-dir", str(config_dir))
    assert code == 2
    assert f"{bad}: invalid configuration" in err
    assert "orders.maxQuantity: got -1; allowed: a number >= 1" in err
    assert "orders.color: got 'red'; unknown key; allowed keys here: ['maxQuantity'" in err
    assert "Traceback" not in out + err
    assert "trading-api/v1.yaml" in out  # the good files are still reported


def test_validate_one_file_by_path(config_dir: Path) -> None:
    path = config_dir / "market-data" / "v1.yaml"
    path.write_text("schemaVersion: 1\npollTimeoutSeconds: fast\n")
    code, _, err = run("validate", "--file", str(path))
    assert code == 2
    assert "pollTimeoutSeconds: got 'fast'; allowed: a valid number" in err
    code, out, _ = run("validate", "--file", str(path), "--json")
    assert code == 2
    assert json.loads(out)["files"][0]["problems"][0].startswith("pollTimeoutSeconds: got 'fast'")


def test_a_file_not_named_v_n_is_reported(config_dir: Path) -> None:
    (config_dir / "trading-api" / "prod.yaml").write_text("schemaVersion: 1\n")
    code, _, err = run("validate", "--config-dir", str(config_dir))
    assert code == 2
    assert "(file name): got 'prod.yaml'; allowed: v<N>.yaml" in err


def test_an_unknown_service_exits_2_without_traceback() -> None:
    code, out, err = run("validate", "--service", "nosuch")
    assert code == 2
    assert "unknown configured service 'nosuch'" in err
    assert "Traceback" not in out + err


def test_migrate_up_prints_the_converted_document() -> None:
    code, out, _ = run("migrate", "--service", "trading-api", "--from", "1", "--to", "2")
    assert code == 0
    assert out.startswith("schemaVersion: 2\nquotes:\n  ttlSeconds: 5\n")


def test_migrate_json() -> None:
    code, out, _ = run("migrate", "--service", "trading-api", "--from", "1", "--to", "2", "--json")
    payload = json.loads(out)
    assert code == 0
    assert payload["document"]["features"] == {"bidAsk": False}
    assert payload["written"] is None


def test_a_lossy_migration_is_refused_naming_what_would_be_lost(config_dir: Path) -> None:
    before = sorted(p.name for p in (config_dir / "trading-api").iterdir())
    code, out, err = run(
        "migrate",
        *("--service", "trading-api", "--from", "2", "--to", "1", "--write"),
        *("--config-dir", str(config_dir)),
    )
    assert code == 2
    assert "would lose: features.bidAsk (true)" in err
    assert "Traceback" not in out + err
    assert sorted(p.name for p in (config_dir / "trading-api").iterdir()) == before


def test_migrate_write_creates_the_target_version(config_dir: Path) -> None:
    (config_dir / "trading-api" / "v2.yaml").unlink()
    code, out, _ = run(
        "migrate",
        *("--service", "trading-api", "--from", "1", "--to", "2", "--write"),
        *("--config-dir", str(config_dir)),
    )
    assert code == 0, out
    code, _, _ = run("validate", "--config-dir", str(config_dir))
    assert code == 0
    assert "bidAsk: false" in (config_dir / "trading-api" / "v2.yaml").read_text()


def test_migrate_write_never_overwrites_a_different_file(config_dir: Path) -> None:
    target = config_dir / "trading-api" / "v2.yaml"
    before = target.read_text()
    code, _, err = run(
        "migrate",
        *("--service", "trading-api", "--from", "1", "--to", "2", "--write"),
        *("--config-dir", str(config_dir)),
    )
    assert code == 2
    assert "exists and differs from the conversion; nothing written" in err
    assert target.read_text() == before


def test_migrate_from_a_missing_version_exits_2() -> None:
    code, _, err = run("migrate", "--service", "trading-api", "--from", "5", "--to", "1")
    assert code == 2
    assert "existing files: ['v1.yaml', 'v2.yaml']" in err


def test_diff_is_key_by_key() -> None:
    code, out, _ = run("diff", "--service", "trading-api", "--from", "1", "--to", "2")
    assert code == 0
    assert "~ orders.maxQuantity: 10000 -> 5000" in out
    assert "~ features.bidAsk: false -> true" in out
    assert "3 change(s)" in out


def test_diff_down_shows_what_the_older_schema_cannot_hold() -> None:
    code, out, _ = run("diff", "--service", "trading-api", "--from", "2", "--to", "1", "--json")
    payload = json.loads(out)
    assert code == 0
    assert payload["not_in_target_schema"] == ["features.bidAsk"]
    assert {c["key"] for c in payload["changes"]} == {"maxOrderQuantity", "quoteTtlSeconds"}
