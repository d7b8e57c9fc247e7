"""Kafka Connect's REST API: connector configs, states, offsets and the plugin list."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streamapp.errors import ConfigError
from streamapp.ops import OpsError
from streamapp.settings import redact_url

if TYPE_CHECKING:
    from streamapp.settings import Settings

POSTGRES_CONNECTOR = "io.debezium.connector.postgresql.PostgresConnector"
_REBALANCE_RETRY_S = 30.0


@dataclass(frozen=True, slots=True)
class ConnectorConfig:
    """One connector's configuration as Connect serves it (``GET /connectors/<name>/config``).

    Guarantees: every accessor reads ``values`` only (no I/O); :meth:`captures` applies
    Debezium's table/schema include and exclude lists the way the connector does (comma
    separated regular expressions, anchored, case-insensitive, on ``schema.table``).
    """

    name: str
    values: Mapping[str, str]

    @property
    def connector_class(self) -> str:
        return self.values.get("connector.class", "")

    @property
    def dbname(self) -> str | None:
        return self.values.get("database.dbname") or None

    @property
    def topic_prefix(self) -> str | None:
        return self.values.get("topic.prefix") or None

    @property
    def signal_table(self) -> str | None:
        """``signal.data.collection`` (``schema.table``), or None when the connector has none."""
        return self.values.get("signal.data.collection") or None

    @property
    def signal_channels(self) -> tuple[str, ...]:
        """``signal.enabled.channels``; Debezium's default is the source (table) channel."""
        raw = self.values.get("signal.enabled.channels") or "source"
        return tuple(c.strip().lower() for c in raw.split(",") if c.strip())

    def captures(self, table: str) -> bool:
        """True when ``table`` (``schema.table``) passes the connector's include/exclude lists."""
        schema = table.split(".", 1)[0]
        for key, name, include in (
            ("schema.include.list", schema, True),
            ("schema.exclude.list", schema, False),
            ("table.include.list", table, True),
            ("table.exclude.list", table, False),
        ):
            patterns = _regexes(self.values.get(key, ""))
            if patterns and any(p.fullmatch(name) for p in patterns) is not include:
                return False
        return True


def _regexes(text: str) -> list[re.Pattern[str]]:
    """Debezium's list syntax: regular expressions separated by commas (``\\,`` escapes one)."""
    parts = re.split(r"(?<!\\),", text)
    return [re.compile(p.strip().replace("\\,", ","), re.IGNORECASE) for p in parts if p.strip()]


@dataclass(frozen=True, slots=True)
class ConnectAuth:
    """How every request reaches Connect's REST API: an ``Authorization`` header (basic auth
    from STREAMAPP_CONNECT_USER_INFO[_FILE], '' for none) and the CA file that verifies an
    https URL (STREAMAPP_CONNECT_CA_FILE, '' for the system CAs). Holds no I/O once built."""

    authorization: str = field(default="", repr=False)
    ca_file: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectAuth:
        """The auth of ``settings``; ConfigError (naming the setting, never its value) for user
        info without a ``:``, an unreadable ``_FILE`` or a CA path that is no file."""
        from streamapp.kafkaconf import read_secret

        user_info = read_secret(
            settings.connect_user_info,
            settings.connect_user_info_file,
            "STREAMAPP_CONNECT_USER_INFO",
            settings.path("."),
        )
        header = ""
        if user_info:
            if ":" not in user_info:
                raise ConfigError("STREAMAPP_CONNECT_USER_INFO must be <user>:<password>")
            header = "Basic " + base64.b64encode(user_info.encode()).decode()
        ca = ""
        if settings.connect_ca_file:
            path = settings.path(settings.connect_ca_file)
            if not path.is_file():
                raise ConfigError(
                    f"STREAMAPP_CONNECT_CA_FILE: {path} is not a readable file; fix the path"
                )
            ca = str(path)
        return cls(header, ca)

    @classmethod
    def from_env(cls) -> ConnectAuth:
        from streamapp.settings import Settings

        return cls.from_settings(Settings.from_env())

    def context(self) -> ssl.SSLContext | None:
        """The TLS context of an https URL with a private CA (None: urllib's default)."""
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None


@dataclass(frozen=True, slots=True)
class ConnectClient:
    """Calls to one Connect worker's REST API at ``url``, authenticated by ``auth`` (default:
    the STREAMAPP_CONNECT_* settings of the process's environment).

    Guarantees: every failure is an OpsError of one line naming the URL (password hidden) and
    what to do: a refused login (HTTP 401/403) names STREAMAPP_CONNECT_USER_INFO, a certificate
    that cannot be verified STREAMAPP_CONNECT_CA_FILE; HTTP 409 (the worker group is
    rebalancing) is retried for up to 30 s.
    """

    url: str
    timeout: float = 10.0
    auth: ConnectAuth | None = None

    def __post_init__(self) -> None:
        if self.auth is None:
            object.__setattr__(self, "auth", ConnectAuth.from_env())

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request; the parsed JSON answer (None when empty)."""
        auth = self.auth or ConnectAuth()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth.authorization:
            headers["Authorization"] = auth.authorization
        request = urllib.request.Request(
            self.url.rstrip("/") + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers=headers,
        )
        deadline = time.monotonic() + _REBALANCE_RETRY_S
        while True:
            try:
                with urllib.request.urlopen(
                    request, timeout=self.timeout, context=auth.context()
                ) as resp:
                    raw = resp.read()
                return json.loads(raw) if raw else None
            except urllib.error.HTTPError as exc:
                if exc.code != 409 or time.monotonic() > deadline:
                    raise self._http_error(method, path, exc) from None
            except (OSError, ValueError) as exc:
                raise self._unreachable(getattr(exc, "reason", exc)) from None
            time.sleep(1)

    def _unreachable(self, reason: object) -> OpsError:
        where = f"Kafka Connect at {redact_url(self.url)}"
        if isinstance(reason, ssl.SSLCertVerificationError):
            return OpsError(
                f"{where}: its TLS certificate could not be verified ({reason.verify_message}); "
                "set STREAMAPP_CONNECT_CA_FILE to the CA that signed it (and check that the "
                "certificate names the host in STREAMAPP_CONNECT_URL)"
            )
        if isinstance(reason, ssl.SSLError):
            return OpsError(
                f"{where}: TLS failed ({reason.reason or reason}); check the scheme of "
                "STREAMAPP_CONNECT_URL (https:// for a TLS port, http:// for a plain one)"
            )
        return OpsError(
            f"{where} is unreachable ({type(reason).__name__}: {str(reason)[:200]}); start it "
            "(`make up`) or point STREAMAPP_CONNECT_URL at your Connect REST API"
        )

    def _http_error(self, method: str, path: str, exc: urllib.error.HTTPError) -> OpsError:
        detail = exc.read().decode(errors="replace")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            detail = str(json.loads(detail)["message"])
        detail = " ".join(detail.split())[:300]
        where = f"Kafka Connect at {redact_url(self.url)}"
        if exc.code in (401, 403):
            given = bool(self.auth and self.auth.authorization)
            fix = (
                "check STREAMAPP_CONNECT_USER_INFO (<user>:<password>; or its _FILE)"
                if given
                else "set STREAMAPP_CONNECT_USER_INFO to <user>:<password> (or its _FILE)"
            )
            what = "refused the login" if exc.code == 401 else "refused this user"
            return OpsError(f"{where} {what} (HTTP {exc.code} to {method} {path}); {fix}")
        return OpsError(f"{where} answered HTTP {exc.code} to {method} {path}: {detail}")

    def connectors(self) -> list[str]:
        return sorted(self.call("GET", "/connectors") or [])

    def config(self, name: str) -> ConnectorConfig:
        """The connector's config; OpsError listing the known connectors when there is none."""
        known = self.connectors()
        if name not in known:
            raise OpsError(
                f"Kafka Connect at {redact_url(self.url)} has no connector {name!r} "
                f"(known: {', '.join(known) or 'none'}); pass --connector NAME"
            )
        values = self.call("GET", f"/connectors/{name}/config") or {}
        return ConnectorConfig(name, {str(k): str(v) for k, v in values.items()})

    def states(self) -> dict[str, tuple[str, list[str]]]:
        """name -> (connector state, [task states]) for every connector."""
        answer = self.call("GET", "/connectors?expand=status") or {}
        out: dict[str, tuple[str, list[str]]] = {}
        for name, info in sorted(answer.items()):
            status = info.get("status", {})
            tasks = [str(t.get("state", "?")) for t in status.get("tasks", [])]
            out[name] = (str(status.get("connector", {}).get("state", "?")), tasks)
        return out

    def offsets(self, name: str) -> list[Mapping[str, Any]]:
        """The connector's committed source offsets: ``[{"partition": ..., "offset": ...}]``."""
        answer = self.call("GET", f"/connectors/{name}/offsets") or {}
        return list(answer.get("offsets", []))

    def plugins(self) -> dict[str, str]:
        """Connector plugin class -> version."""
        return {
            str(p.get("class")): str(p.get("version", "?"))
            for p in self.call("GET", "/connector-plugins") or []
        }


def running(state: str, tasks: list[str]) -> bool:
    """A connector runs when it and each of its (at least one) tasks are RUNNING."""
    return state == "RUNNING" and bool(tasks) and all(t == "RUNNING" for t in tasks)


def describe_state(state: str, tasks: list[str]) -> str:
    """``RUNNING``, or ``FAILED (tasks: RUNNING, FAILED)`` when something does not run."""
    return state if running(state, tasks) else f"{state} (tasks: {', '.join(tasks) or 'none'})"


def probe(
    client: ConnectClient, topics: Sequence[str] | None = None
) -> list[tuple[str, str, bool | None]]:
    """(what, detail, ok) lines for `streamapp check`: Debezium's PostgreSQL plugin is
    installed, then one line per connector: ok (True) when it and its tasks run, False when
    it or a task FAILED, None (informational) for a deliberate or passing state (PAUSED,
    STOPPED, UNASSIGNED, RESTARTING). With ``topics`` (the topologies' source topics), a FAILED
    connector whose ``topic.prefix`` feeds none of them is only informational (None): on a
    shared Connect cluster someone else's broken connector is not this worker's problem.
    Raises OpsError when Connect does not answer."""
    plugins = client.plugins()
    version = plugins.get(POSTGRES_CONNECTOR)
    lines: list[tuple[str, str, bool | None]] = [
        (
            "connect",
            f"PostgresConnector {version}, {len(plugins)} connector plugin(s)"
            if version
            else f"{POSTGRES_CONNECTOR} is not installed; add Debezium's PostgreSQL "
            "connector to the worker's plugin.path",
            version is not None,
        )
    ]
    for name, (state, tasks) in client.states().items():
        ok: bool | None = True
        detail = describe_state(state, tasks)
        if not running(state, tasks):
            ok = False if "FAILED" in (state, *tasks) else None
            if ok is False and topics is not None and not _feeds(client, name, topics):
                ok = None
                detail += "; it feeds none of the topologies here"
            detail += f"; see `curl {redact_url(client.url)}/connectors/{name}/status`"
        lines.append((f"connector {name}", detail, ok))
    return lines


def _feeds(client: ConnectClient, name: str, topics: Sequence[str]) -> bool:
    """Whether connector ``name`` writes one of ``topics`` (``<topic.prefix>.<schema>.<table>``);
    True when its config cannot be read (then it counts, to be safe)."""
    try:
        prefix = client.config(name).topic_prefix
    except OpsError:
        return True
    return not prefix or any(t.startswith(f"{prefix}.") for t in topics)
