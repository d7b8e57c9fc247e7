"""The sinks over TLS against servers that enforce it: PostgreSQL's ``streamapp_tls`` role may
only connect with TLS (pg_hba ``hostssl``), ``streamapp_mtls`` only with a client certificate,
and Redis's ACL user ``streamapp_tls`` is used on the TLS port (infra/local/stack/pgtls.py,
redis.py). Kafka is the SASL_SSL listener, so every hop of the worker is encrypted; `check`
prints what each connection negotiated, and a refused connection is one line naming the setting.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from connectivity_env import PG_PORT, REDIS_TLS_PORT, STACK_CA, TLS_DIR, SaslHarness
from ops_harness import row
from worker_harness import wait_until

TLS = TLS_DIR
CA = STACK_CA


def secret(name: str) -> str:
    path = TLS / f"{name}.password"
    if not path.exists():
        pytest.fail(f"no {path}: run `make up` (the stack's TLS roles)", pytrace=False)
    return path.read_text().strip()


def pg_dsn(query: str, user: str = "streamapp_tls", password: str | None = None) -> str:
    auth = user if password is None else f"{user}:{quote(password, safe='')}"
    return f"postgresql://{auth}@127.0.0.1:{PG_PORT}/warehouse?{query}"


def tls_env() -> dict[str, str]:
    """Both sinks over TLS: PostgreSQL verify-full as streamapp_tls, Redis with the ACL user."""
    return {
        "STREAMAPP_WAREHOUSE_DSN": pg_dsn(
            f"sslmode=verify-full&sslrootcert={CA}", password=secret("postgres-streamapp_tls")
        ),
        "STREAMAPP_REDIS_URL": (
            f"rediss://streamapp_tls:{secret('redis-streamapp_tls')}@127.0.0.1:{REDIS_TLS_PORT}/0"
        ),
        "STREAMAPP_REDIS_CA_FILE": str(CA),
    }


def line_of(output: str, service: str) -> str:
    """The `check` line of ``service`` (its name is the second column)."""
    found = [x for x in output.splitlines() if re.match(rf"^\S+\s+{re.escape(service)}\s{{2}}", x)]
    assert len(found) == 1, output
    return found[0]


def test_worker_writes_to_postgres_and_redis_over_tls(
    sasl: SaslHarness, pg_warehouse: Any, redis_client: Any
) -> None:
    sasl.overrides = tls_env()
    for i in range(1, 11):
        sasl.send("c", after=row(i), lsn=i)
    sasl.send("u", before=row(3), after=row(3, v=1), lsn=11)
    sasl.flush()
    sasl.start()
    # read back as the superuser over the plaintext port: the rows are where the TLS user put them
    wait_until(lambda: len(sasl.pg_rows(pg_warehouse)) == 10, what="10 rows", harness=sasl)
    wait_until(
        lambda: len(list(redis_client.scan_iter(match=f"{sasl.table}:*[0-9]"))) == 10,
        what="10 Redis keys",
        harness=sasl,
    )
    assert sasl.pg_rows(pg_warehouse)[3][3] == "v1"
    owner = pg_warehouse.execute(
        "SELECT tableowner FROM pg_tables WHERE tablename = %s", (sasl.table,)
    ).fetchone()
    assert owner == ("streamapp_tls",)
    assert b'"note":"v1"' in redis_client.get(f"{sasl.table}:3").replace(b" ", b"")

    assert sasl.stop() == 0  # the worker holds its chDB directory, which `check` opens
    check = sasl.cli("check")
    assert check.returncode == 0, check.stdout + check.stderr
    for service in ("postgres warehouse", "redis"):
        line = line_of(check.stdout, service)
        assert line.startswith("ok ") and re.search(r"  TLSv1\.[23]  ", line), line
    kafka = line_of(check.stdout, "kafka")
    assert re.search(r"  SASL_SSL/SCRAM-SHA-512 TLSv1\.[23]  ", kafka), kafka
    passwords = (secret("postgres-streamapp_tls"), secret("redis-streamapp_tls"))
    log = sasl.log.read_text(errors="replace")
    for text in (check.stdout, check.stderr, log):
        assert not any(p in text for p in passwords), "a sink password was printed"


def test_postgres_client_certificate_only_role(sasl: SaslHarness) -> None:
    """``streamapp_mtls`` has no password: its certificate (CN = role) is the login."""
    cert, key = TLS / "postgres-streamapp-mtls.pem", TLS / "postgres-streamapp-mtls.key"
    with_cert = f"sslmode=verify-full&sslrootcert={CA}&sslcert={cert}&sslkey={key}"
    sasl.overrides = {"STREAMAPP_WAREHOUSE_DSN": pg_dsn(with_cert, user="streamapp_mtls")}
    check = sasl.cli("check")
    line = line_of(check.stdout, "postgres warehouse")
    assert line.startswith("ok ") and re.search(r"  TLSv1\.[23]  ", line), check.stdout
    sasl.overrides = {
        "STREAMAPP_WAREHOUSE_DSN": pg_dsn(f"sslmode=verify-full&sslrootcert={CA}", "streamapp_mtls")
    }
    refused = sasl.cli("check")
    line = line_of(refused.stdout, "postgres warehouse")
    assert line.startswith("FAIL ") and "client certificate" in line, refused.stdout
    assert "STREAMAPP_WAREHOUSE_DSN" in line and refused.returncode != 0


CASES = {
    # verify-full without sslrootcert: libpq looks for ~/.postgresql/root.crt, which is not there
    "postgres-no-ca": (
        "STREAMAPP_WAREHOUSE_DSN",
        lambda: {"STREAMAPP_WAREHOUSE_DSN": pg_dsn("sslmode=verify-full", password="Pg-S3cret")},
        "postgres warehouse",
        "Pg-S3cret",
    ),
    # the TLS-only role without TLS: pg_hba refuses it
    "postgres-plaintext": (
        "STREAMAPP_WAREHOUSE_DSN",
        lambda: {
            "STREAMAPP_WAREHOUSE_DSN": pg_dsn(
                "sslmode=disable", password=secret("postgres-streamapp_tls")
            )
        },
        "postgres warehouse",
        "",
    ),
    "redis-wrong-password": (
        "STREAMAPP_REDIS_URL",
        lambda: {
            **tls_env(),
            "STREAMAPP_REDIS_URL": f"rediss://streamapp_tls:Rd-S3cret@127.0.0.1:{REDIS_TLS_PORT}/0",
        },
        "redis",
        "Rd-S3cret",
    ),
    "redis-no-ca": (
        "STREAMAPP_REDIS_CA_FILE",
        lambda: {**tls_env(), "STREAMAPP_REDIS_CA_FILE": ""},
        "redis",
        "",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refused_sink_connection_is_one_line_naming_the_setting(
    sasl: SaslHarness, case: str
) -> None:
    setting, overrides, service, wrong = CASES[case]
    sasl.overrides = overrides()
    hidden = [
        p for p in (wrong, secret("postgres-streamapp_tls"), secret("redis-streamapp_tls")) if p
    ]
    check = sasl.cli("check")
    assert check.returncode != 0
    line = line_of(check.stdout, service)
    assert line.startswith("FAIL ") and setting in line, check.stdout

    worker = sasl.cli("worker", timeout=120)
    assert worker.returncode != 0
    errors = [x for x in worker.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and setting in errors[0], worker.stderr[-3000:]
    assert "Traceback" not in worker.stderr
    for text in (check.stdout, check.stderr, worker.stdout, worker.stderr):
        assert not any(p in text for p in hidden), "a password was printed"
