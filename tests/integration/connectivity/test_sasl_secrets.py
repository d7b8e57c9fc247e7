"""A SCRAM password and the registry's and Connect's basic auth passwords that are one sentinel
(each one a real login: a SCRAM user, a user of the stack's auth proxy), and the sinks' passwords
(a PostgreSQL role and a Redis ACL user, both over TLS): a worker (DEBUG logs), `settings`,
`check`, `status` and a refused login must never print it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from connectivity_env import PG_PORT, REDIS_TLS_PORT, STACK_CA, SaslHarness, proxy_env
from ops_harness import row
from worker_harness import wait_until

PW = "S3ntinel-kafka-pw-9q"


def assert_no_sentinel(what: str, text: str) -> None:
    assert PW not in text and "S3ntinel" not in text, f"the sentinel password leaked into {what}"


@pytest.fixture
def sentinel_user(sasl: SaslHarness, kafka_admin: Any) -> Iterator[str]:
    """A SCRAM-SHA-512 user whose password is the sentinel, with ACLs on everything; created
    and deleted with Kafka's admin API over the PLAINTEXT listener."""
    from confluent_kafka.admin import (
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialDeletion,
        UserScramCredentialUpsertion,
    )

    user = f"{sasl.unique}_u"
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    upsert = UserScramCredentialUpsertion(user, info, PW.encode())
    for fut in kafka_admin.alter_user_scram_credentials([upsert]).values():
        fut.result(30)
    bindings = [
        AclBinding(kind, name, ResourcePatternType.LITERAL, f"User:{user}", "*",
                   AclOperation.ALL, AclPermissionType.ALLOW)
        for kind, name in (
            (ResourceType.TOPIC, "*"),
            (ResourceType.GROUP, "*"),
            (ResourceType.BROKER, "kafka-cluster"),
        )
    ]  # fmt: skip
    for fut in kafka_admin.create_acls(bindings).values():
        fut.result(30)
    yield user
    filters = [
        AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host,
                         b.operation, b.permission_type)
        for b in bindings
    ]  # fmt: skip
    for fut in kafka_admin.delete_acls(filters).values():
        fut.result(30)
    deletion = UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)
    for fut in kafka_admin.alter_user_scram_credentials([deletion]).values():
        fut.result(30)


@pytest.fixture
def sentinel_proxy_user(auth_proxy: Path, unique: str) -> Iterator[str]:
    """A user of the stack's authenticating proxy (registry and Connect) whose password is the
    sentinel: a password file in its folder, removed afterwards."""
    user = f"{unique}_p"
    password = auth_proxy / f"{user}.password"
    password.write_text(PW + "\n")
    password.chmod(0o600)
    yield user
    password.unlink(missing_ok=True)


@pytest.fixture
def sentinel_sinks(pg_warehouse: Any, redis_client: Any, unique: str) -> Iterator[dict[str, str]]:
    """A PostgreSQL role and a Redis ACL user whose password is the sentinel (made as the
    superuser and the default user), and the sink settings that use them over TLS."""
    role = f"{unique}_s"
    pg_warehouse.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{PW}'")
    pg_warehouse.execute(f'GRANT USAGE, CREATE ON SCHEMA public TO "{role}"')
    redis_client.acl_setuser(role, enabled=True, passwords=[f"+{PW}"], keys=["~*"],
                             commands=["+@all"])  # fmt: skip
    tls = f"sslmode=verify-full&sslrootcert={STACK_CA}"
    yield {
        "STREAMAPP_WAREHOUSE_DSN": f"postgresql://{role}:{PW}@127.0.0.1:{PG_PORT}/warehouse?{tls}",
        "STREAMAPP_REDIS_URL": f"rediss://{role}:{PW}@127.0.0.1:{REDIS_TLS_PORT}/0",
        "STREAMAPP_REDIS_CA_FILE": str(STACK_CA),
    }
    redis_client.acl_deluser(role)
    for statement in ("REASSIGN OWNED BY {} TO CURRENT_USER", "DROP OWNED BY {}", "DROP ROLE {}"):
        pg_warehouse.execute(statement.format(f'"{role}"'))


def test_sasl_and_registry_secrets_never_printed(
    sasl: SaslHarness,
    sentinel_user: str,
    sentinel_proxy_user: str,
    sentinel_sinks: dict[str, str],
    pg_warehouse: Any,
) -> None:
    sasl.overrides = {
        **sentinel_sinks,
        **proxy_env(sasl.tmp / "secrets"),  # the registry and Connect behind the auth proxy
        "STREAMAPP_REGISTRY_USER_INFO_FILE": "",
        "STREAMAPP_CONNECT_USER_INFO_FILE": "",
        "STREAMAPP_REGISTRY_USER_INFO": f"{sentinel_proxy_user}:{PW}",
        "STREAMAPP_CONNECT_USER_INFO": f"{sentinel_proxy_user}:{PW}",
        "STREAMAPP_KAFKA_SASL_USERNAME": sentinel_user,
        "STREAMAPP_KAFKA_SASL_PASSWORD": PW,
        "STREAMAPP_KAFKA_SASL_PASSWORD_FILE": "",
        "STREAMAPP_KAFKA_PROPERTIES": f"sasl.oauthbearer.client.secret={PW}",
        "STREAMAPP_LOG_LEVEL": "DEBUG",
    }
    for i in range(1, 6):
        sasl.send("c", after=row(i), lsn=i)
    sasl.flush()
    sasl.start()
    wait_until(lambda: len(sasl.pg_rows(pg_warehouse)) == 5, what="5 rows", harness=sasl)
    outputs = {name: sasl.cli(*args) for name, args in (
        ("settings", ("settings",)),
        ("check", ("check",)),
        ("status", ("status", sasl.unique)),
    )}  # fmt: skip
    assert sasl.stop() == 0
    assert "STREAMAPP_KAFKA_SASL_PASSWORD" in outputs["settings"].stdout
    # the sentinel logged in: it was on the wire
    for service in ("registry", "connect", "postgres warehouse", "redis"):
        words = service.split()
        lines = outputs["check"].stdout.splitlines()
        line = next(x for x in lines if x.split()[1 : 1 + len(words)] == words)
        assert line.startswith("ok "), outputs["check"].stdout
    assert outputs["status"].returncode == 0, outputs["status"].stderr
    sasl.overrides["STREAMAPP_KAFKA_SASL_PASSWORD"] = PW + "-wrong"
    outputs["refused status"] = refused = sasl.cli("status", sasl.unique, timeout=120)
    assert refused.returncode != 0 and "STREAMAPP_KAFKA_SASL_PASSWORD" in refused.stderr
    for name, done in outputs.items():
        assert_no_sentinel(name, done.stdout + done.stderr)
    assert_no_sentinel("the worker's DEBUG log", sasl.log.read_text(errors="replace"))
