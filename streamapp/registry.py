"""One cached schema-registry client shared by decode and encode (Confluent API, e.g. Apicurio)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import fastavro
import httpx
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from streamapp.encode.compat import LEVELS, compatibility_problems
from streamapp.errors import (
    ConfigError,
    IncompatibleSchemaError,
    RegistryError,
    RegistryUnavailableError,
    UnknownSchemaError,
    UnusableSchemaError,
)
from streamapp.kafkaconf import registry_conf
from streamapp.redact import redact_url

if TYPE_CHECKING:
    from streamapp.settings import Settings

DEFAULT_URL: Final = "http://127.0.0.1:8081/apis/ccompat/v7"
DEFAULT_LEVEL: Final = "BACKWARD"
# What a client call raises when the registry answers with an error or cannot be reached.
_CLIENT_ERRORS: Final = (SchemaRegistryError, httpx.HTTPError, OSError, ValueError, KeyError)
# Transient failures (after the client's own retries): the registry may answer later.
_TRANSIENT_ERRORS: Final = (httpx.TransportError, OSError)
_TRANSIENT_STATUS: Final = frozenset({408, 429})
NEGATIVE_TTL: Final = 60.0
"""Seconds a schema id the registry does not know (404) is remembered before it is asked again."""


def subject_name(topic: str, *, key: bool = False) -> str:
    """The TopicNameStrategy subject of ``topic``: ``<topic>-value`` or ``<topic>-key``."""
    return f"{topic}-{'key' if key else 'value'}"


class SchemaRegistry:
    """Schemas by id (cached for the process: an id never changes) and checked registration.

    Guarantees: ``schema``/``parsed_schema`` call the registry at most once per id that resolves
    or whose schema is unusable (UnusableSchemaError: not Avro, not valid), and at most once per
    ``negative_ttl`` seconds for an id the registry does not know (UnknownSchemaError); every
    registry failure raises RegistryError with one line naming the URL, the subject or id, and
    what to check; a transient one (connection refused, timeout, HTTP 408/429/5xx) is a
    RegistryUnavailableError (``retriable``) and is not cached; ``register`` never registers
    a schema that is incompatible with the subject's registered versions at the subject's
    (else the global, else BACKWARD) compatibility level.

    When ``register`` creates a subject it also sets the subject's level to ``compatibility``:
    Apicurio's Confluent-compatible API reports (and enforces) ``NONE`` for a subject without a
    level of its own instead of falling back to the global one, so streamapp pins the level on
    the subjects it owns. The latest version is never cached (it changes as we register).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        client: Any | None = None,
        compatibility: str = "BACKWARD",
        negative_ttl: float = NEGATIVE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url or DEFAULT_URL
        if compatibility.upper() not in LEVELS:
            raise ConfigError(
                f"compatibility level {compatibility!r} is not one of {', '.join(LEVELS)}"
            )
        self.compatibility = compatibility.upper()
        if client is None:
            if settings is None:
                raise TypeError("SchemaRegistry needs settings= (its auth and CA) or a client=")
            client = SchemaRegistryClient(
                registry_conf(self.url, settings, {"cache.latest.ttl.sec": 0})
            )
        self._client: Any = client
        self._raw: dict[int, dict[str, Any]] = {}
        self._parsed: dict[int, Any] = {}
        self._refs: dict[int, list[Any]] = {}
        # ids that cannot be used: (monotonic expiry, error); unusable ones never expire
        self._refused: dict[int, tuple[float, RegistryError]] = {}
        self._negative_ttl = negative_ttl
        self._clock = clock

    def close(self) -> None:
        """Release the HTTP session of a client this object created (a no-op for fakes)."""
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

    def schema(self, schema_id: int) -> dict[str, Any]:
        """The Avro schema (JSON as a dict) registered under ``schema_id``; cached.

        Raises UnknownSchemaError (404, remembered ``negative_ttl`` seconds), UnusableSchemaError
        (not an Avro schema; remembered), RegistryUnavailableError or RegistryError.
        """
        cached = self._raw.get(schema_id)
        if cached is None:
            self._check_refused(schema_id)
            try:
                found = self._call(
                    f"fetch schema id {schema_id}", self._client.get_schema, schema_id
                )
                cached = self._avro_json(found, f"schema id {schema_id}")
            except (UnknownSchemaError, UnusableSchemaError) as exc:
                raise self._refuse(schema_id, exc) from None
            self._raw[schema_id] = cached
            self._refs[schema_id] = list(getattr(found, "references", None) or ())
        return cached

    def parsed_schema(self, schema_id: int) -> Any:
        """``schema(schema_id)`` parsed by fastavro, with its references resolved; cached.

        Raises what ``schema`` raises, and UnusableSchemaError (remembered) when the schema or
        one of its references is not valid Avro.
        """
        parsed = self._parsed.get(schema_id)
        if parsed is None:
            self._check_refused(schema_id)
            raw = self.schema(schema_id)
            named: dict[str, Any] = {}
            where = f"schema id {schema_id}"
            try:
                self._parse_references(self._refs.get(schema_id, ()), named, where)
                parsed = self._parse(raw, named, where)
            except ConfigError as exc:
                raise self._refuse(schema_id, UnusableSchemaError(str(exc))) from None
            except (UnknownSchemaError, UnusableSchemaError) as exc:
                raise self._refuse(schema_id, exc) from None
            self._parsed[schema_id] = parsed
        return parsed

    def _check_refused(self, schema_id: int) -> None:
        """Raise the remembered error of an id found unknown (until it expires) or unusable."""
        refused = self._refused.get(schema_id)
        if refused is not None:
            if refused[0] > self._clock():
                raise refused[1]
            self._refused.pop(schema_id, None)  # expired (pop: threads may race here)

    def _refuse(self, schema_id: int, exc: RegistryError) -> RegistryError:
        ttl = self._negative_ttl if isinstance(exc, UnknownSchemaError) else float("inf")
        self._refused[schema_id] = (self._clock() + ttl, exc)
        return exc

    def latest(self, subject: str) -> tuple[int, dict[str, Any]] | None:
        """``(id, schema)`` of the subject's latest version, or None when it has none."""
        try:
            reg = self._client.get_latest_version(subject)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                return None
            raise self._error(f"fetch the latest version of subject {subject!r}", exc) from None
        except _CLIENT_ERRORS as exc:
            raise self._error(f"fetch the latest version of subject {subject!r}", exc) from None
        schema = self._avro_json(reg.schema, f"subject {subject!r}")
        self._raw.setdefault(int(reg.schema_id), schema)
        return int(reg.schema_id), schema

    def compatibility_level(self, subject: str) -> str:
        """The subject's compatibility level, else the global one, else BACKWARD."""
        for args in ((subject,), ()):
            try:
                level = str(self._client.get_compatibility(*args)).upper()
            except _CLIENT_ERRORS:
                continue
            if level in LEVELS:
                return level
        return DEFAULT_LEVEL

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        """Register ``schema`` under ``subject`` and return its id (the existing id if unchanged).

        Raises IncompatibleSchemaError, listing every problem, before anything is registered
        when our check or the registry's own test finds the schema incompatible.
        """
        schema = dict(schema)
        self._parse(schema, {}, f"the schema for subject {subject!r}")
        latest = self.latest(subject)
        if latest is not None and _canonical(latest[1]) == _canonical(schema):
            return latest[0]
        wrapped = Schema(json.dumps(schema, separators=(",", ":")), "AVRO")
        if latest is not None:
            self._check(subject, schema, wrapped, latest[1])
        try:
            schema_id = int(self._client.register_schema(subject, wrapped))
        except SchemaRegistryError as exc:
            if exc.http_status_code == 409:
                raise IncompatibleSchemaError(
                    f"subject {subject!r}: the registry at {redact_url(self.url)} refused the "
                    f"new schema as incompatible ({exc.error_message}); keep the old shape or "
                    "add defaults"
                ) from None
            raise self._error(f"register a schema under subject {subject!r}", exc) from None
        except _CLIENT_ERRORS as exc:
            raise self._error(f"register a schema under subject {subject!r}", exc) from None
        self._raw[schema_id] = schema
        if latest is None:
            self._call(
                f"set the compatibility level of subject {subject!r}",
                self._client.set_compatibility,
                subject,
                self.compatibility,
            )
        return schema_id

    def _check(self, subject: str, schema: dict[str, Any], wrapped: Any, latest: Any) -> None:
        level = self.compatibility_level(subject)
        olds = [latest]
        if level.endswith("_TRANSITIVE"):
            olds = [self._version(subject, v) for v in self._versions(subject)]
        problems = compatibility_problems(olds, schema, level)
        if problems:
            raise IncompatibleSchemaError(
                f"subject {subject!r} ({level}): the new schema is incompatible — "
                + "; ".join(problems)
            )
        if level == "NONE":
            return
        try:
            ok = self._client.test_compatibility(subject, wrapped)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                return
            raise self._error(f"test compatibility for subject {subject!r}", exc) from None
        except _CLIENT_ERRORS as exc:
            raise self._error(f"test compatibility for subject {subject!r}", exc) from None
        if not ok:
            raise IncompatibleSchemaError(
                f"subject {subject!r}: the registry at {redact_url(self.url)} reports the new "
                f"schema incompatible ({level}) with the latest version; keep the old shape or "
                "add defaults"
            )

    def _versions(self, subject: str) -> list[int]:
        found = self._call(f"list versions of {subject!r}", self._client.get_versions, subject)
        return sorted(int(v) for v in found)

    def _version(self, subject: str, version: int) -> dict[str, Any]:
        what = f"fetch version {version} of subject {subject!r}"
        reg = self._call(what, self._client.get_version, subject, version)
        return self._avro_json(reg.schema, f"version {version} of subject {subject!r}")

    def _parse_references(self, refs: Any, named: dict[str, Any], where: str) -> None:
        """Parse referenced schemas (depth first) into ``named`` so the referrer resolves."""
        for ref in refs:
            what = f"fetch reference {ref.name!r} ({ref.subject} v{ref.version}) of {where}"
            reg = self._call(what, self._client.get_version, ref.subject, ref.version)
            inner = f"reference {ref.name!r}"
            self._parse_references(getattr(reg.schema, "references", None) or (), named, inner)
            self._parse(self._avro_json(reg.schema, inner), named, inner)

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except _CLIENT_ERRORS as exc:
            raise self._error(what, exc) from None

    def subjects(self) -> list[str]:
        """Every subject the registry lists (one round trip, nothing cached)."""
        return [str(s) for s in self._call("list the subjects", self._client.get_subjects)]

    def _error(self, what: str, exc: Exception) -> RegistryError:
        url = redact_url(self.url)
        refused = access_problem(exc)
        if refused:
            detail = redact_url(
                f"HTTP {exc.http_status_code}"
                if isinstance(exc, SchemaRegistryError)
                else f"{type(exc).__name__}: {exc}"
            )
            return RegistryError(
                f"schema registry at {url}: could not {what} ({detail}); {refused}"
            )
        if isinstance(exc, SchemaRegistryError):
            detail = redact_url(
                f"HTTP {exc.http_status_code}, code {exc.error_code}: {exc.error_message}"
            )
            if exc.http_status_code == 404 and what.startswith(("fetch schema id", "fetch ref")):
                missing = (
                    "no schema with that id"
                    if what.startswith("fetch schema id")
                    else f"could not {what}"
                )
                return UnknownSchemaError(
                    f"schema registry at {url}: {missing} ({detail}); the record was "
                    "written against another registry or the schema was deleted"
                )
            if exc.http_status_code in _TRANSIENT_STATUS or exc.http_status_code >= 500:
                return RegistryUnavailableError(
                    f"schema registry at {url}: could not {what} ({detail}); the registry "
                    "is failing or overloaded (transient: retry later)"
                )
        else:
            detail = redact_url(f"{type(exc).__name__}: {exc}")
            if isinstance(exc, _TRANSIENT_ERRORS):
                return RegistryUnavailableError(
                    f"schema registry at {url}: could not {what} ({detail}); check that "
                    "the registry is running and reachable at that URL (transient: retry later)"
                )
        return RegistryError(
            f"schema registry at {url}: could not {what} ({detail}); check that the "
            "registry is running, the URL points at its Confluent-compatible API, and the "
            "subject or id exists"
        )

    def _avro_json(self, schema: Any, where: str) -> dict[str, Any]:
        kind = getattr(schema, "schema_type", None) or "AVRO"
        if kind != "AVRO":
            raise UnusableSchemaError(
                f"{where} is a {kind} schema, not Avro; streamapp reads and writes Avro only"
            )
        try:
            loaded = json.loads(schema.schema_str)
        except (TypeError, ValueError) as exc:
            raise UnusableSchemaError(f"{where} is not valid JSON ({exc})") from None
        return loaded if isinstance(loaded, dict) else {"type": loaded}

    def _parse(self, schema: Any, named: dict[str, Any], where: str) -> Any:
        try:
            return fastavro.parse_schema(schema, named)
        except Exception as exc:  # noqa: BLE001 - fastavro raises several types for bad schemas
            raise ConfigError(f"{where} is not a valid Avro schema ({exc})") from None


def access_problem(exc: BaseException) -> str:
    """What to fix when the registry refused the credentials (HTTP 401/403) or its TLS
    certificate could not be verified (named by the setting); '' for any other failure.
    Neither is transient: retrying with the same settings cannot succeed."""
    if isinstance(exc, SchemaRegistryError):
        if exc.http_status_code == 401:
            return (
                "the registry refused the login: check STREAMAPP_REGISTRY_USER_INFO "
                "(<user>:<password> or <api key>:<api secret>) or "
                "STREAMAPP_REGISTRY_BEARER_TOKEN (or their _FILE forms)"
            )
        if exc.http_status_code == 403:
            return (
                "the registry refused this user the request: grant it the rights, or use "
                "other STREAMAPP_REGISTRY_USER_INFO / STREAMAPP_REGISTRY_BEARER_TOKEN"
            )
        return ""
    text = str(exc).upper()
    if "CERTIFICATE_VERIFY_FAILED" in text or "CERTIFICATE VERIFY FAILED" in text:
        return (
            "the registry's TLS certificate could not be verified: set "
            "STREAMAPP_REGISTRY_CA_FILE to the CA that signed it (and check that the "
            "certificate names the host in STREAMAPP_REGISTRY_URL)"
        )
    if "WRONG_VERSION_NUMBER" in text or "RECORD_LAYER_FAILURE" in text:
        return (
            "TLS failed: check the scheme of STREAMAPP_REGISTRY_URL (https:// for a TLS port, "
            "http:// for a plain one)"
        )
    return ""


def probe(settings: Settings) -> str:
    """`streamapp check`'s round trip to the registry of ``settings`` (with its auth and
    CA): ``"<n> subject(s)"``; RegistryError of one line naming what to fix otherwise."""
    client = SchemaRegistryClient(registry_conf(settings.registry_url, settings))
    registry = SchemaRegistry(settings.registry_url, client=client)
    try:
        return f"{len(registry.subjects())} subject(s)"
    finally:
        registry.close()


def _canonical(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))
