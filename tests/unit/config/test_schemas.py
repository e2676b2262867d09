"""Each schema version as a table: good documents load, bad ones name key and allowed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbooks.config import files
from runbooks.config.files import ConfigFileError
from runbooks.config.registry import SCHEMAS, schemas_for
from stackspec.errors import UnknownName

GOOD = [
    ("trading-api", "schemaVersion: 1\n"),
    ("trading-api", "schemaVersion: 1\nquoteTtlSeconds: 3\nmaxOrderQuantity: 1\n"),
    ("trading-api", "schemaVersion: 2\nfeatures: {bidAsk: true}\n"),
    ("trading-api", "schemaVersion: 2\nquotes: {ttlSeconds: 3600}\norders: {pageSize: 500}\n"),
    ("market-data", "schemaVersion: 1\npollTimeoutSeconds: 2\n"),
    ("market-data", "schemaVersion: 1\npollTimeoutSeconds: 0.1\n"),
]


@pytest.mark.parametrize(("service", "text"), GOOD)
def test_good_documents_load(service: str, text: str) -> None:
    loaded = files.validate_text(text, service, "x.yaml")
    assert loaded.document["schemaVersion"] == loaded.version


BAD = [
    # (service, text, key named, what the message says is allowed)
    ("trading-api", "quoteTtlSeconds: 5\n", "schemaVersion", "got missing; allowed: [1, 2]"),
    ("trading-api", "schemaVersion: 9\n", "schemaVersion", "allowed: [1, 2]"),
    ("trading-api", "schemaVersion: 1\nquoteTtlSeconds: 0\n", "quoteTtlSeconds", ">= 1"),
    ("trading-api", "schemaVersion: 1\nquoteTtlSeconds: '5'\n", "quoteTtlSeconds", "integer"),
    (
        "trading-api",
        "schemaVersion: 1\nquoteTTL: 5\n",
        "quoteTTL",
        "allowed keys here: ['schemaVersion', 'quoteTtlSeconds', 'maxOrderQuantity', "
        "'ordersPageSize']",
    ),
    (
        "trading-api",
        "schemaVersion: 2\nfeatures: {bidAsk: true, darkMode: true}\n",
        "features.darkMode",
        "allowed keys here: ['bidAsk']",
    ),
    ("trading-api", "schemaVersion: 2\norders: {pageSize: 501}\n", "orders.pageSize", "<= 500"),
    ("trading-api", "schemaVersion: 2\nfeatures: {bidAsk: 1}\n", "features.bidAsk", "boolean"),
    # v1 keys in a v2 document: schema 2 does not know them
    ("trading-api", "schemaVersion: 2\nquoteTtlSeconds: 5\n", "quoteTtlSeconds", "unknown key"),
    ("market-data", "schemaVersion: 1\npollTimeoutSeconds: 0\n", "pollTimeoutSeconds", "> 0"),
    ("market-data", "schemaVersion: 2\n", "schemaVersion", "allowed: [1]"),
    ("market-data", "- a list\n", "(document)", "a mapping"),
    ("market-data", "schemaVersion: [1\n", "(yaml)", "unparsable"),
]


@pytest.mark.parametrize(("service", "text", "key", "allowed"), BAD)
def test_bad_documents_name_file_key_and_allowed(
    service: str, text: str, key: str, allowed: str
) -> None:
    with pytest.raises(ConfigFileError) as caught:
        files.validate_text(text, service, "config/x/v1.yaml")
    message = str(caught.value)
    assert message.startswith("config/x/v1.yaml: invalid configuration")
    assert any(p.key == key for p in caught.value.problems), message
    assert allowed in message
    assert caught.value.exit_code == 2


def test_a_file_whose_schema_version_is_not_its_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "trading-api").mkdir()
    (tmp_path / "trading-api" / "v2.yaml").write_text("schemaVersion: 1\n")
    with pytest.raises(ConfigFileError, match=r"allowed: \[2\] \(the file is v2.yaml\)"):
        files.load_version("trading-api", 2, tmp_path)


def test_a_missing_version_lists_the_existing_files(tmp_path: Path) -> None:
    (tmp_path / "trading-api").mkdir()
    (tmp_path / "trading-api" / "v1.yaml").write_text("schemaVersion: 1\n")
    with pytest.raises(ConfigFileError, match=r"existing files: \['v1.yaml'\]"):
        files.load_version("trading-api", 3, tmp_path)


def test_an_unknown_service_lists_the_configured_ones() -> None:
    with pytest.raises(UnknownName, match="market-data, trading-api"):
        schemas_for("nosuch")


@pytest.mark.parametrize("service", sorted(SCHEMAS))
def test_every_shipped_file_is_valid(service: str) -> None:
    shipped = files.versions(service)
    assert shipped, f"config/{service}/ has no v<N>.yaml"
    for version in shipped:
        assert files.load_version(service, version).version == version


@pytest.mark.parametrize("service", sorted(SCHEMAS))
def test_defaults_are_the_newest_schema(service: str) -> None:
    schemas = schemas_for(service)
    assert schemas.defaults().document()["schemaVersion"] == schemas.newest
