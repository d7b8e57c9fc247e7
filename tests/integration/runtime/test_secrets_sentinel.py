"""One sentinel password in every secret-bearing setting; it must show up in no output at all.

The credentials are real where the stack lets them be: a PostgreSQL role and a Redis ACL user
whose password *is* the sentinel, the registry and Connect (which ignore basic auth) addressed
with it in the URL, both mask secrets and the DLQ key built around it. A worker runs on them
(JSON logs at DEBUG), processes good and failing records, serves /metrics, /healthz, /readyz;
then the commands run, and a worker and `check` meet wrong or unreachable endpoints (text
logs). Every byte they print, log, serve or write to the DLQ is searched for the sentinel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from worker_harness import (
    WorkerHarness,
    consume_all,
    free_port,
    http_get,
    teardown,
    wait_until,
)

from streamapp.dlq import headers as h
from streamapp.dlq.seal import SEALED, SEALED_KEY_ID
from streamapp.errors import RegistryError
from streamapp.registry import SchemaRegistry
from streamapp.settings import Settings
from streamapp.transform.mask import key_id

PW = "S3ntinel-pw-7x"
DLQ_KEY = PW + "A" * 29  # 43 URL-safe base64 digits: 32 bytes, the sentinel in their text
RETENTION = "3600000"
PII = "person2@example.com"
# the stack's addresses (its STREAMAPP_*_PORT knobs, as `make up` reads them)
PG_PORT = os.environ.get("STREAMAPP_PG_PORT", "15432")
PG = f"127.0.0.1:{PG_PORT}"
REDIS = f"127.0.0.1:{os.environ.get('STREAMAPP_REDIS_PORT', '16379')}"
REGISTRY = f"127.0.0.1:{os.environ.get('STREAMAPP_REGISTRY_PORT', '18081')}"
CONNECT = f"127.0.0.1:{os.environ.get('STREAMAPP_CONNECT_PORT', '18083')}"


def assert_no_sentinel(what: str, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    assert PW.encode() not in data, f"the sentinel password leaked into {what}"
    assert b"S3ntinel" not in data, f"part of the sentinel password leaked into {what}"


class SentinelHarness(WorkerHarness):
    """A WorkerHarness whose every secret-bearing setting carries the sentinel password."""

    def __init__(self, *args: Any, user: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.overrides: dict[str, str] = {}

    @property
    def env(self) -> dict[str, str]:
        env = dict(super().env)
        env.update(
            STREAMAPP_SOURCE_DSN=f"postgresql://{self.user}:{PW}@{PG}/source",
            STREAMAPP_WAREHOUSE_DSN=f"postgresql://{self.user}:{PW}@{PG}/warehouse",
            STREAMAPP_REDIS_URL=f"redis://{self.user}:{PW}@{REDIS}/0",
            STREAMAPP_REGISTRY_URL=f"http://{self.user}:{PW}@{REGISTRY}/apis/ccompat/v7",
            STREAMAPP_CONNECT_URL=f"http://{self.user}:{PW}@{CONNECT}",
            STREAMAPP_MASK_SECRET=f"{PW}-mask-secret",
            STREAMAPP_MASK_SECRET_CRM=f"{PW}-crm-secret",
            STREAMAPP_DLQ_KEY=DLQ_KEY,
            STREAMAPP_DLQ_RETENTION_MS=RETENTION,
            STREAMAPP_LOG_LEVEL="DEBUG",
            STREAMAPP_LOG_FORMAT="json",
        )
        env.update(self.overrides)
        return env

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`streamapp <args>` (the console script) in this environment, plus ``env``."""
        return subprocess.run(
            [str(Path(sys.executable).parent / "streamapp"), *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=240,
        )


@pytest.fixture
def sentinel(
    stack: Settings,
    unique: str,
    tmp_path: Path,
    registry_client: Any,
    kafka_admin: Any,
    pg_warehouse: Any,
    redis_client: Any,
) -> Iterator[SentinelHarness]:
    """A harness with a PostgreSQL role and a Redis user whose password is the sentinel; the
    DLQ topic is *not* created here: the worker must create it."""
    from confluent_kafka.admin import NewTopic

    user = f"{unique}_u"
    pg_warehouse.execute(f"CREATE ROLE \"{user}\" LOGIN PASSWORD '{PW}'")
    pg_warehouse.execute(f'GRANT CREATE, USAGE ON SCHEMA public TO "{user}"')
    redis_client.execute_command("ACL", "SETUSER", user, "on", f">{PW}", "~*", "&*", "+@all")
    h_ = SentinelHarness(stack, unique, tmp_path, registry_client, user=user)
    for fut in kafka_admin.create_topics(
        [NewTopic(h_.topic, h_.partitions, 1), NewTopic(h_.output, h_.partitions, 1)]
    ).values():
        fut.result(30)
    try:
        yield h_
    finally:
        try:
            teardown(
                h_,
                kafka_admin=kafka_admin,
                pg_warehouse=pg_warehouse,
                redis_client=redis_client,
                registry_client=registry_client,
                groups=(f"{h_.env['STREAMAPP_GROUP_ID']}.dlq-replay",),
            )
        finally:
            pg_warehouse.execute(f'DROP OWNED BY "{user}"')
            pg_warehouse.execute(f'DROP ROLE IF EXISTS "{user}"')
            redis_client.execute_command("ACL", "DELUSER", user)


def _row(i: int, **over: Any) -> dict[str, Any]:
    base = {"id": i, "email": f"person{i}@example.com", "amount": None, "qty": "1"}
    return {**base, "note": "n", "updated_at": None, **over}


def test_the_sentinel_password_appears_in_no_output(
    sentinel: SentinelHarness, pg_warehouse: Any, kafka_admin: Any
) -> None:
    from confluent_kafka.admin import ConfigResource, ResourceType

    h_ = sentinel
    h_.web_port = free_port()
    h_.send("c", after=_row(1), lsn=10)
    h_.send("c", after=_row(2, qty="abc"), lsn=20)  # TransformError: to the DLQ
    h_.send_raw(b"k", b"\x00" + (999_999_999).to_bytes(4, "big") + b"\x02")  # unknown schema id
    h_.flush()

    # -- a worker on the sentinel credentials, JSON logs at DEBUG ----------------------------
    h_.start()
    wait_until(lambda: set(h_.pg_rows(pg_warehouse)) == {1}, what="row 1 stored", harness=h_)
    wait_until(
        lambda: len(consume_all(h_.settings, h_.dlq, expect=2, timeout=5)) == 2,
        what="2 records in the DLQ",
        harness=h_,
    )
    dlq = consume_all(h_.settings, h_.dlq, expect=2)
    served = {path: http_get(h_.web_port, path) for path in ("/metrics", "/healthz", "/readyz")}
    assert h_.stop() == 0, h_.log_tail()
    log = h_.log.read_text(errors="replace")

    assert_no_sentinel("the worker's JSON log", log)
    lines = [line for line in log.splitlines() if '"logger": "streamapp' in line]
    assert lines and all(json.loads(line)["message"] for line in lines)
    ids = (
        f"crm={key_id(f'{PW}-crm-secret'.encode())}, default={key_id(f'{PW}-mask-secret'.encode())}"
    )
    assert f"mask key ids: {ids}; DLQ records sealed (AES-256-GCM)" in log
    for path, (status, body) in served.items():
        assert status in (200, 503), (path, status, body)
        assert_no_sentinel(f"the worker's {path}", body)
    assert "streamapp_events_in_total" in served["/metrics"][1]

    sealing_id = key_id(Settings.from_env(h_.env).dlq_keys()[0])
    for msg in dlq:
        assert_no_sentinel("a DLQ key", msg.key() or b"")
        assert_no_sentinel("a DLQ value", msg.value() or b"")
        for name, value in msg.headers() or []:
            assert_no_sentinel(f"the DLQ header {name}", name.encode() + b"=" + (value or b""))
        found = h.header_map(msg.headers() or [])
        assert found[SEALED] == "AES-256-GCM" and found[SEALED_KEY_ID] == sealing_id
        assert PII.encode() not in (msg.value() or b"")  # item 9: the clear row is sealed
    stages = sorted(h.header_map(m.headers() or [])[h.STAGE] for m in dlq)
    assert stages == ["decode", "transform"]
    resource = ConfigResource(ResourceType.TOPIC, h_.dlq)
    described = kafka_admin.describe_configs([resource])[resource].result(30)
    assert described["retention.ms"].value == RETENTION  # created by the worker, bounded

    # -- the commands --------------------------------------------------------------------------
    settings = h_.cli("settings")
    assert settings.returncode == 0, settings.stderr
    assert f"(set, sealing key id {sealing_id}, 1 key(s))" in settings.stdout
    shown = h_.cli("dlq", "show", h_.unique, "--trace")
    assert shown.returncode == 0, shown.stderr
    assert "  event     data, op c" in shown.stdout  # opened with the DLQ key
    assert PII not in shown.stdout
    listing = h_.cli("dlq", "list", h_.unique)
    topology = h_.cli("topology", "show", h_.unique)
    status = h_.cli("status")
    check = h_.cli("check")
    assert "***" in check.stdout
    for name, done in {
        "settings": settings,
        "dlq show": shown,
        "dlq list": listing,
        "topology show": topology,
        "status": status,
        "check": check,
    }.items():
        assert_no_sentinel(f"`streamapp {name}`", done.stdout + done.stderr)


def test_failures_on_wrong_or_unreachable_endpoints_print_no_sentinel(
    sentinel: SentinelHarness,
) -> None:
    h_ = sentinel
    # A worker whose registry does not answer (text logs): it stops at start-up.
    h_.overrides = {
        "STREAMAPP_LOG_FORMAT": "text",
        "STREAMAPP_REGISTRY_URL": f"http://{h_.user}:{PW}@127.0.0.1:1/apis/ccompat/v7",
    }
    h_.start()
    assert h_.proc is not None
    assert h_.proc.wait(180) != 0
    log = h_.log.read_text(errors="replace")
    assert f"{h_.user}:***@127.0.0.1:1" in log, log[-3000:]
    assert_no_sentinel("the text log of a worker without registry", log)

    # A worker whose warehouse refuses the password (text logs): the sink pre-flight stops it
    # before it joins its group, with one line naming the setting to fix.
    h_.log.unlink()
    h_.overrides = {
        "STREAMAPP_LOG_FORMAT": "text",
        "STREAMAPP_WAREHOUSE_DSN": f"postgresql://streamapp:{PW}@{PG}/warehouse",
    }
    h_.start()
    assert h_.proc is not None
    assert h_.proc.wait(180) != 0
    log = h_.log.read_text(errors="replace")
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, log[-3000:]
    assert "password authentication failed" in errors[0], errors[0]
    assert "STREAMAPP_WAREHOUSE_DSN" in errors[0], errors[0]
    assert "Traceback" not in log, log[-3000:]
    assert_no_sentinel("the text log of a worker with a wrong password", log)

    # `check` against wrong passwords and closed ports, in every DSN form.
    h_.overrides = {}
    check = h_.cli(
        "check",
        STREAMAPP_SOURCE_DSN=f"host=127.0.0.1 port={PG_PORT} dbname=source password={PW}",
        STREAMAPP_WAREHOUSE_DSN=f"postgresql://streamapp@{PG}/warehouse?password={PW}",
        STREAMAPP_REDIS_URL=f"redis://:{PW}@127.0.0.1:1/0",
        STREAMAPP_CLICKHOUSE_DSN=f"http://default:{PW}@127.0.0.1:1/default",
        STREAMAPP_REGISTRY_URL=f"http://{h_.user}:{PW}@127.0.0.1:1/apis/ccompat/v7",
        STREAMAPP_CONNECT_URL=f"http://{h_.user}:{PW}@127.0.0.1:1",
    )
    assert check.returncode == 1
    for service in ("registry", "postgres source", "postgres warehouse", "redis", "clickhouse"):
        assert f"FAIL {service}" in check.stdout, check.stdout
    assert_no_sentinel("`streamapp check` against wrong endpoints", check.stdout + check.stderr)

    # Settings refused at start: the message shows the setting, never the password.
    for env, value in {
        "STREAMAPP_SOURCE_DSN": f"postgresql://streamapp:p@ss@{PW}@{PG}/source",
        "STREAMAPP_CONNECT_URL": f"{h_.user}:{PW}@{CONNECT}",
        "STREAMAPP_DLQ_KEY": PW,
    }.items():
        refused = h_.cli("settings", **{env: value})
        assert refused.returncode == 2 and refused.stderr.startswith(f"error: {env}")
        assert_no_sentinel(f"the error for a bad {env}", refused.stdout + refused.stderr)


def test_a_registry_error_names_the_registry_without_its_password() -> None:
    url = f"http://reader:{PW}@127.0.0.1:1/apis/ccompat/v7"
    registry = SchemaRegistry(url, settings=Settings.from_env({}))
    try:
        with pytest.raises(RegistryError) as info:
            registry.schema(1)
    finally:
        registry.close()
    assert "schema registry at http://reader:***@127.0.0.1:1/apis/ccompat/v7" in str(info.value)
    assert_no_sentinel("a RegistryError", str(info.value))


def test_an_unknown_schema_id_on_the_real_registry_names_it_without_its_password(
    stack: Settings,
) -> None:
    url = stack.registry_url.replace("://", f"://reader:{PW}@", 1)
    registry = SchemaRegistry(url, settings=stack)
    try:
        with pytest.raises(LookupError) as info:
            registry.schema(999_999_998)
    finally:
        registry.close()
    assert "reader:***@" in str(info.value)
    assert_no_sentinel("an UnknownSchemaError", str(info.value))
