"""The registry and Kafka Connect's REST API behind the stack's authenticating HTTPS proxy: a
worker and the commands through it with basic auth or a bearer token, and one actionable line
for a wrong password or an untrusted certificate."""

from __future__ import annotations

import re
from typing import Any

import pytest
from connectivity_env import AUTH_DIR, CONNECT_TLS_PORT, REGISTRY_TLS_PORT, ProxyHarness
from ops_harness import row
from worker_harness import consume_all, wait_until

from streamapp.wire import MAGIC

WRONG = "not-the-proxy-password"


def check_line(stdout: str, service: str) -> str:
    """The `streamapp check` line of ``service``."""
    return next(x for x in stdout.splitlines() if x.split()[1:2] == [service])


def one_error(done: Any) -> str:
    """The single ``error:`` line of a failed command (no traceback, no secret)."""
    assert done.returncode != 0, done.stdout + done.stderr
    errors = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert WRONG not in done.stdout + done.stderr
    return errors[0]


def test_worker_and_commands_through_the_proxy(proxied: ProxyHarness, pg_warehouse: Any) -> None:
    for i in range(1, 21):
        proxied.send("c", after=row(i), lsn=i)
    proxied.send("c", after=row(21, qty="x"), lsn=21)  # one record for the DLQ
    proxied.flush()
    proxied.start()
    # decoding the Avro input needs its schemas from the registry, through the proxy
    wait_until(lambda: len(proxied.pg_rows(pg_warehouse)) == 20, what="20 rows", harness=proxied)
    # the outputs are Avro registered through the proxy under <output>-value
    outputs = consume_all(proxied.settings, proxied.output, expect=20)
    registered = proxied.registry.get_latest_version(f"{proxied.output}-value").schema_id
    assert len(outputs) == 20
    assert {m.value()[:5] for m in outputs} == {bytes([MAGIC]) + registered.to_bytes(4, "big")}
    ends = proxied.ends()
    wait_until(lambda: proxied.committed() == ends, what="offsets committed", harness=proxied)

    check = proxied.cli("check")
    registry, connect = check_line(check.stdout, "registry"), check_line(check.stdout, "connect")
    assert registry.startswith("ok ") and f"127.0.0.1:{REGISTRY_TLS_PORT}" in registry, check.stdout
    assert connect.startswith("ok ") and f"127.0.0.1:{CONNECT_TLS_PORT}" in connect, check.stdout

    status = proxied.cli("status", proxied.unique)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"group '{proxied.unique}-group': Stable, 1 member(s): " in status.stdout
    assert proxied.stop() == 0

    dry = proxied.cli("replay", proxied.unique, "--from", "earliest", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert re.search(r"^\s*total\s+21\b", dry.stdout, re.M), dry.stdout

    init = proxied.cli(
        "topology", "init", "proxied", "--from-registry", f"{proxied.topic}-value", "--out", "-"
    )
    assert init.returncode == 0, init.stderr
    assert f'topic="{proxied.topic}"' in init.stdout and '"email": "string"' in init.stdout

    # snapshot lists the connectors through the proxy and refuses an unknown one, naming the
    # known ones (nothing is written)
    snapshot = proxied.cli("snapshot", "public.customers", "--connector", f"{proxied.unique}_c")
    refusal = one_error(snapshot)
    assert f"has no connector '{proxied.unique}_c' (known: " in refusal and "shop" in refusal


def test_bearer_token_is_accepted(proxied: ProxyHarness) -> None:
    proxied.overrides = {
        "STREAMAPP_REGISTRY_USER_INFO_FILE": "",
        "STREAMAPP_REGISTRY_BEARER_TOKEN_FILE": str(AUTH_DIR / "bearer.token"),
    }
    check = proxied.cli("check")
    assert check_line(check.stdout, "registry").startswith("ok "), check.stdout
    init = proxied.cli(
        "topology", "init", "bearer", "--from-registry", f"{proxied.topic}-value", "--out", "-"
    )
    assert init.returncode == 0 and f'topic="{proxied.topic}"' in init.stdout, init.stderr


def test_no_credentials_are_refused_by_the_proxy(proxied: ProxyHarness) -> None:
    """The proxy enforces: without user info both services answer 401 (this is what makes the
    positive tests above mean something)."""
    proxied.overrides = {
        "STREAMAPP_REGISTRY_USER_INFO_FILE": "",
        "STREAMAPP_CONNECT_USER_INFO_FILE": "",
    }
    check = proxied.cli("check")
    assert check.returncode != 0
    for service, setting in (
        ("registry", "STREAMAPP_REGISTRY_USER_INFO"),
        ("connect", "STREAMAPP_CONNECT_USER_INFO"),
    ):
        line = check_line(check.stdout, service)
        assert line.startswith("FAIL") and "HTTP 401" in line and setting in line, check.stdout


REGISTRY_CASES = [
    pytest.param("password", "STREAMAPP_REGISTRY_USER_INFO", id="wrong-password"),
    pytest.param("ca", "STREAMAPP_REGISTRY_CA_FILE", id="missing-ca"),
]


@pytest.mark.parametrize(("broken", "setting"), REGISTRY_CASES)
@pytest.mark.parametrize("command", ["worker", "topology init", "check"])
def test_registry_refusal_is_one_line_naming_the_setting(
    proxied: ProxyHarness, broken: str, setting: str, command: str
) -> None:
    _break(proxied, "REGISTRY", broken)
    if command == "check":
        done = proxied.cli("check")
        line = check_line(done.stdout, "registry")
        assert done.returncode != 0 and line.startswith("FAIL") and setting in line, done.stdout
        assert "Traceback" not in done.stderr and WRONG not in done.stdout + done.stderr
        return
    if command == "worker":
        done = proxied.cli("worker", timeout=180)
    else:
        subject = f"{proxied.topic}-value"
        done = proxied.cli("topology", "init", "x", "--from-registry", subject, "--out", "-")
    assert setting in one_error(done)


@pytest.mark.parametrize(
    ("broken", "setting"),
    [
        pytest.param("password", "STREAMAPP_CONNECT_USER_INFO", id="wrong-password"),
        pytest.param("ca", "STREAMAPP_CONNECT_CA_FILE", id="missing-ca"),
    ],
)
def test_connect_refusal_is_one_line_naming_the_setting(
    proxied: ProxyHarness, broken: str, setting: str
) -> None:
    _break(proxied, "CONNECT", broken)
    check = proxied.cli("check")
    line = check_line(check.stdout, "connect")
    assert check.returncode != 0 and line.startswith("FAIL") and setting in line, check.stdout
    assert check_line(check.stdout, "registry").startswith("ok "), check.stdout
    snapshot = proxied.cli("snapshot", "public.customers", "--connector", "shop")
    assert setting in one_error(snapshot)


def _break(h: ProxyHarness, service: str, broken: str) -> None:
    """A wrong password in the user info file of ``service`` only, or its CA unset."""
    if broken == "password":
        secret = h.tmp / f"{service.lower()}-user-info"
        secret.write_text(f"streamapp:{WRONG}\n")
        h.overrides[f"STREAMAPP_{service}_USER_INFO_FILE"] = str(secret)
    else:
        h.overrides[f"STREAMAPP_{service}_CA_FILE"] = ""
