"""The pyiceberg catalog properties of the STREAMAPP_ICEBERG_* settings (SQL or REST catalog).

A REST catalog may ask for a bearer token (STREAMAPP_ICEBERG_CATALOG_TOKEN) and serve TLS with a
certificate of a private CA (STREAMAPP_ICEBERG_CATALOG_CA_FILE); anything else pyiceberg knows
(OAuth2 ``credential`` and ``scope``, ``s3.*`` storage keys, ``header.*``) goes through
STREAMAPP_ICEBERG_PROPERTIES. pyiceberg's REST client is ``requests``, which lets the
environment's REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE replace a session's CA file: with a CA file
set, :class:`PinnedCaRestCatalog` keeps that file for every request.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Final

from streamapp.errors import ConfigError
from streamapp.propertylist import pairs

if TYPE_CHECKING:
    from streamapp.settings import Settings

# properties that have a STREAMAPP_* setting of their own
DEDICATED: Final = {
    "type": "STREAMAPP_ICEBERG_CATALOG_URI",
    "uri": "STREAMAPP_ICEBERG_CATALOG_URI",
    "warehouse": "STREAMAPP_ICEBERG_WAREHOUSE",
    "token": "STREAMAPP_ICEBERG_CATALOG_TOKEN",
    "ssl": "STREAMAPP_ICEBERG_CATALOG_CA_FILE",
    "py-catalog-impl": "STREAMAPP_ICEBERG_CATALOG_CA_FILE",
}
PINNED: Final = "streamapp.sinks.iceberg.restcatalog.PinnedCaRestCatalog"


def extra_properties(text: str) -> dict[str, str]:
    """STREAMAPP_ICEBERG_PROPERTIES as a dict; ConfigError for a malformed item or a property
    with a setting of its own."""
    out = {}
    for key, value in pairs(text, "STREAMAPP_ICEBERG_PROPERTIES", "pyiceberg catalog properties"):
        if key in DEDICATED:
            raise ConfigError(f"STREAMAPP_ICEBERG_PROPERTIES: set {key} with {DEDICATED[key]}")
        out[key] = value
    return out


def rest_properties(settings: Settings, uri: str) -> dict[str, Any]:
    """A REST catalog's properties: its URI, token and CA file (pinned, see the module)."""
    props: dict[str, Any] = {"type": "rest", "uri": uri}
    if settings.iceberg_catalog_token:
        props["token"] = settings.iceberg_catalog_token
    if settings.iceberg_catalog_ca_file:
        path = settings.path(settings.iceberg_catalog_ca_file)
        if not path.is_file():
            raise ConfigError(
                f"STREAMAPP_ICEBERG_CATALOG_CA_FILE={str(path)!r} is not a readable file; "
                "point it at the PEM CA that signed the catalog's certificate"
            )
        del props["type"]  # a catalog class instead of a type (pyiceberg refuses both)
        props["py-catalog-impl"] = PINNED
        props["ssl"] = {"cabundle": str(path)}
    return props


def default_token_endpoint(props: dict[str, Any]) -> None:
    """A REST catalog logging in with an OAuth2 ``credential`` and no ``oauth2-server-uri``:
    name the REST spec's endpoint, ``<uri>/v1/oauth/tokens``, which pyiceberg guesses today
    with a deprecation warning and will stop guessing (apache/iceberg#10537)."""
    if "credential" in props and "oauth2-server-uri" not in props:
        props["oauth2-server-uri"] = str(props["uri"]).rstrip("/") + "/v1/oauth/tokens"


def sql_only_problems(settings: Settings) -> list[str]:
    """Settings that only a REST catalog takes, set for a SQL catalog."""
    return [
        name
        for name, value in (
            ("STREAMAPP_ICEBERG_CATALOG_TOKEN", settings.iceberg_catalog_token),
            ("STREAMAPP_ICEBERG_CATALOG_CA_FILE", settings.iceberg_catalog_ca_file),
        )
        if value
    ]


def failure_hint(exc: BaseException) -> tuple[str, bool]:
    """What to tell the user about a catalog that refused or could not be reached, and whether
    a retry can help: a refused login or an untrusted certificate cannot heal by itself."""
    from streamapp.sinks import tlshints

    kind = type(exc).__name__
    if kind in ("UnauthorizedError", "ForbiddenError", "OAuthError"):
        return (
            "the catalog refused the login; check STREAMAPP_ICEBERG_CATALOG_TOKEN (or the "
            "credential in STREAMAPP_ICEBERG_PROPERTIES)",
            False,
        )
    if tlshints.untrusted(exc):
        return (
            "set STREAMAPP_ICEBERG_CATALOG_CA_FILE to the PEM CA that signed the catalog's "
            "certificate",
            False,
        )
    return "check STREAMAPP_ICEBERG_CATALOG_URI and that its server answers", True


def storage_hint(exc: BaseException) -> str:
    """What to fix when the warehouse refused a test write (pyarrow's S3 errors name the AWS
    error code; none of them holds a key)."""
    text = str(exc)
    if "XAmzContentSHA256Mismatch" in text or ("UploadPart" in text and "400" in text):
        return (
            "the store does not take uploads with trailing checksums (S3Proxy, older MinIO or "
            "Ceph): set AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED in the worker's environment"
        )
    if any(
        code in text
        for code in (
            "SIGNATURE_DOES_NOT_MATCH",
            "INVALID_ACCESS_KEY_ID",
            "ACCESS_DENIED",
            "HTTP status 403",
        )
    ):
        return (
            "the store refused the key; check s3.access-key-id and s3.secret-access-key in "
            "STREAMAPP_ICEBERG_PROPERTIES"
        )
    if "NO_SUCH_BUCKET" in text:
        return "create the bucket, or fix STREAMAPP_ICEBERG_WAREHOUSE"
    if "NETWORK_CONNECTION" in text or "curlCode" in text:
        return "check s3.endpoint in STREAMAPP_ICEBERG_PROPERTIES and that the store answers"
    return "check STREAMAPP_ICEBERG_WAREHOUSE (and its s3.* keys in STREAMAPP_ICEBERG_PROPERTIES)"


def probe_warehouse(props: dict[str, Any]) -> str:
    """Write and delete one small object under the warehouse of a SQL catalog's ``props``
    through pyiceberg's FileIO, as the sink's commits will; the warehouse location. Raises what
    the store raised: a wrong key, a missing bucket or a store that refuses the upload would
    otherwise show only at the first commit, which the sink retries without end."""
    from pyiceberg.io import load_file_io

    warehouse = str(props["warehouse"])
    io = load_file_io(props, location=warehouse)
    path = f"{warehouse.rstrip('/')}/.streamapp-probe-{uuid.uuid4().hex[:12]}"
    with io.new_output(path).create(overwrite=True) as out:
        out.write(b"streamapp storage probe\n")
    io.delete(path)
    return warehouse
