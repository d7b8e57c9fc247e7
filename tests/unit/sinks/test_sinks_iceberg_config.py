"""The Iceberg sink's settings and type mapping (no server)."""

from __future__ import annotations

from typing import Any

import pytest
from pyiceberg.types import DecimalType, LongType, StringType, TimestamptzType

from streamapp.errors import ConfigError
from streamapp.settings import REPO_ROOT, Settings
from streamapp.sinks import create_sink
from streamapp.sinks.base import TableSpec
from streamapp.sinks.iceberg import IcebergSink
from streamapp.sinks.iceberg.schema import table_schema
from streamapp.types import parse_type


def test_default_catalog_is_sql_on_the_warehouse_database_with_a_stack_warehouse() -> None:
    props, interval = Settings.from_env({}).iceberg_catalog()
    assert props["type"] == "sql"
    assert props["uri"].startswith("postgresql+psycopg://") and props["uri"].endswith("/warehouse")
    assert props["warehouse"] == (REPO_ROOT / ".stack/data/iceberg").as_uri()
    assert interval == 60.0
    sink = create_sink("iceberg", Settings.from_env({}))
    assert isinstance(sink, IcebergSink) and sink.commit_interval == 60.0


def test_unset_catalog_follows_the_warehouse_dsn_with_its_tls_parameters() -> None:
    """One setting to move for a warehouse elsewhere (before, the catalog kept pointing at the
    local stack's port when only STREAMAPP_WAREHOUSE_DSN was changed)."""
    dsn = "postgresql://u:pw@db.internal:6432/wh?sslmode=verify-full&sslrootcert=/ca.pem"
    props, _ = Settings.from_env({"STREAMAPP_WAREHOUSE_DSN": dsn}).iceberg_catalog()
    assert props["uri"] == "postgresql+psycopg://" + dsn.split("://", 1)[1]


def test_rest_catalog_and_object_store_warehouse() -> None:
    env = {
        "STREAMAPP_ICEBERG_CATALOG_URI": "https://catalog.internal:8181",
        "STREAMAPP_ICEBERG_WAREHOUSE": "s3://lake/warehouse",
        "STREAMAPP_ICEBERG_COMMIT_INTERVAL": "5",
    }
    props, interval = Settings.from_env(env).iceberg_catalog()
    assert props == {
        "type": "rest",
        "uri": "https://catalog.internal:8181",
        "warehouse": "s3://lake/warehouse",
    }
    assert interval == 5.0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STREAMAPP_ICEBERG_CATALOG_URI": "thrift://u:secret@h:9083"}, "use postgresql://"),
        ({"STREAMAPP_ICEBERG_COMMIT_INTERVAL": "0"}, "use seconds, 0.1 to 3600"),
        ({"STREAMAPP_ICEBERG_COMMIT_INTERVAL": "soon"}, "use seconds, 0.1 to 3600"),
    ],
)
def test_bad_settings_are_one_line_errors_without_secrets(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env).iceberg_catalog()
    assert message in str(err.value) and "secret" not in str(err.value)


def test_schema_maps_types_exactly_and_marks_keys_as_identifier_fields() -> None:
    cols = {
        "id": parse_type("int"),
        "amount": parse_type("decimal(12,2)"),
        "at": parse_type("timestamptz"),
        "doc": parse_type("json"),
    }
    schema = table_schema(TableSpec("t", "lake.orders", ("id",), cols))
    types = {f.name: f.field_type for f in schema.fields}
    assert types == {
        "id": LongType(),
        "amount": DecimalType(12, 2),
        "at": TimestamptzType(),
        "doc": StringType(),
        "__version": LongType(),
        "__deleted": types["__deleted"],
    }
    assert [schema.find_field(i).name for i in schema.identifier_field_ids] == ["id"]
    assert schema.find_field("id").required and not schema.find_field("amount").required


def test_a_decimal_wider_than_iceberg_allows_is_a_config_error() -> None:
    cols = {"id": parse_type("int"), "big": parse_type("decimal(40,2)")}
    with pytest.raises(ConfigError, match="at most 38 digits"):
        table_schema(TableSpec("t", "lake.orders", ("id",), cols))


def test_a_rest_catalog_gets_the_warehouse_as_set_and_none_by_default() -> None:
    """A REST server places tables itself; ``warehouse`` asks it for one (Polaris, Lakekeeper:
    a name). Before, a name became a ``file://`` URI under the repo root, and the local
    default directory was sent to every REST server."""
    rest = {"STREAMAPP_ICEBERG_CATALOG_URI": "http://127.0.0.1:18181"}
    named = {**rest, "STREAMAPP_ICEBERG_WAREHOUSE": "analytics"}
    assert Settings.from_env(named).iceberg_catalog()[0]["warehouse"] == "analytics"
    props, _ = Settings.from_env(rest).iceberg_catalog()
    assert props == {"type": "rest", "uri": "http://127.0.0.1:18181"}


def test_rest_token_ca_and_pass_through_properties(tmp_path: Any) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    env = {
        "STREAMAPP_ICEBERG_CATALOG_URI": "https://catalog.internal:8181",
        "STREAMAPP_ICEBERG_CATALOG_TOKEN": "t0k",
        "STREAMAPP_ICEBERG_CATALOG_CA_FILE": str(ca),
        "STREAMAPP_ICEBERG_PROPERTIES": "scope=PRINCIPAL_ROLE:ALL\n"
        "header.X-Iceberg-Access-Delegation=vended-credentials,remote-signing",
    }
    props, _ = Settings.from_env(env).iceberg_catalog()
    assert props == {
        "py-catalog-impl": "streamapp.sinks.iceberg.restcatalog.PinnedCaRestCatalog",
        "uri": "https://catalog.internal:8181",
        "token": "t0k",
        "ssl": {"cabundle": str(ca)},
        "scope": "PRINCIPAL_ROLE:ALL",
        "header.X-Iceberg-Access-Delegation": "vended-credentials,remote-signing",
    }
    shown = dict((k, v) for k, v, _ in Settings.from_env(env).describe())
    assert shown["STREAMAPP_ICEBERG_CATALOG_TOKEN"] == "(set)"
    assert "PRINCIPAL_ROLE" not in shown["STREAMAPP_ICEBERG_PROPERTIES"]
    assert "scope" in shown["STREAMAPP_ICEBERG_PROPERTIES"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"STREAMAPP_ICEBERG_PROPERTIES": "uri=http://x"},
            "set uri with STREAMAPP_ICEBERG_CATALOG_URI",
        ),
        ({"STREAMAPP_ICEBERG_PROPERTIES": "s3.secret-access-key"}, "item 1 is not key=value"),
        ({"STREAMAPP_ICEBERG_CATALOG_CA_FILE": "ca.pem"}, "is for a REST catalog"),
        (
            {
                "STREAMAPP_ICEBERG_CATALOG_URI": "https://c",
                "STREAMAPP_ICEBERG_CATALOG_CA_FILE": "/nope.pem",
            },
            "STREAMAPP_ICEBERG_CATALOG_CA_FILE='/nope.pem' is not a readable file",
        ),
    ],
)
def test_catalog_settings_refused_with_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env).iceberg_catalog()
    assert message in str(err.value) and "secret-access" not in str(err.value)


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        (
            "When uploading part for key 'w/x' in bucket 'lake': AWS Error UNKNOWN (HTTP status "
            "400) during UploadPart operation: No response body.",
            "AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED",
        ),
        (
            "AWS Error SIGNATURE_DOES_NOT_MATCH during CreateMultipartUpload operation: Forbidden",
            "s3.secret-access-key",
        ),
        ("AWS Error ACCESS_DENIED during PutObject operation", "s3.access-key-id"),
        ("AWS Error NO_SUCH_BUCKET during CreateMultipartUpload operation", "create the bucket"),
        (
            "AWS Error NETWORK_CONNECTION during CreateMultipartUpload operation: curlCode: 7",
            "s3.endpoint",
        ),
        ("[Errno 13] Permission denied: '/data/lake'", "check STREAMAPP_ICEBERG_WAREHOUSE"),
    ],
)
def test_a_refused_storage_probe_names_what_to_fix(error: str, hint: str) -> None:
    from streamapp.sinks.iceberg.catalog import storage_hint

    assert hint in storage_hint(OSError(error))


def test_an_oauth2_credential_gets_the_rest_specs_token_endpoint_unless_one_is_named() -> None:
    rest = {"STREAMAPP_ICEBERG_CATALOG_URI": "https://cat.example:8181/"}

    def props(extra: str) -> dict[str, Any]:
        env = {**rest, "STREAMAPP_ICEBERG_PROPERTIES": extra} if extra else rest
        return Settings.from_env(env).iceberg_catalog()[0]

    got = props("credential=id:secret,scope=catalog")
    assert got["oauth2-server-uri"] == "https://cat.example:8181/v1/oauth/tokens"
    named = props("credential=id:secret,oauth2-server-uri=https://idp.example/token")
    assert named["oauth2-server-uri"] == "https://idp.example/token"
    assert "oauth2-server-uri" not in props("")  # no credential: no login to make
    sql = Settings.from_env({"STREAMAPP_ICEBERG_PROPERTIES": "credential=id:secret"})
    assert "oauth2-server-uri" not in sql.iceberg_catalog()[0]
