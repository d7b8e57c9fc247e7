"""The pyiceberg catalog properties of the STREAMAPP_ICEBERG_* settings (SQL or REST catalog).

A REST catalog may ask for a bearer token (STREAMAPP_ICEBERG_CATALOG_TOKEN) and serve TLS with a
certificate of a private CA (STREAMAPP_ICEBERG_CATALOG_CA_FILE); anything else pyiceberg knows
(OAuth2 ``credential`` and ``scope``, ``s3.*`` storage keys, ``header.*``) goes through
STREAMAPP_ICEBERG_PROPERTIES. pyiceberg's REST client is ``requests``, which lets the
environment's REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE replace a session's CA file: with a CA file
set, :class:`PinnedCaRestCatalog` keeps that file for every request.
"""

from __future__ import annotations

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
