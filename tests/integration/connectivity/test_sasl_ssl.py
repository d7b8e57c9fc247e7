"""The worker, the output producer and the ops commands through a SASL_SSL + SCRAM listener,
and one actionable line for each way the connection can be refused."""

from __future__ import annotations

import re
from typing import Any

import pytest
from connectivity_env import SASL_PORT, SaslHarness
from ops_harness import row
from worker_harness import consume_all, wait_until


def test_worker_and_ops_commands_through_sasl_ssl(sasl: SaslHarness, pg_warehouse: Any) -> None:
    for i in range(1, 21):
        sasl.send("c", after=row(i), lsn=i)
    sasl.send("c", after=row(21, qty="x"), lsn=21)  # one record for the DLQ
    sasl.flush()
    sasl.start()
    wait_until(lambda: len(sasl.pg_rows(pg_warehouse)) == 20, what="20 rows", harness=sasl)
    # the worker's producer wrote the outputs and the DLQ record through the listener
    assert len(consume_all(sasl.settings, sasl.output, expect=20)) == 20
    assert len(consume_all(sasl.settings, sasl.dlq, expect=1)) == 1
    ends = sasl.ends()
    wait_until(lambda: sasl.committed() == ends, what="offsets committed", harness=sasl)

    check = sasl.cli("check")
    kafka = next(x for x in check.stdout.splitlines() if x.split()[1:2] == ["kafka"])
    assert kafka.startswith("ok ") and f"127.0.0.1:{SASL_PORT}" in kafka, check.stdout

    status = sasl.cli("status", sasl.unique)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"group '{sasl.unique}-group': Stable, 1 member(s): " in status.stdout
    assert re.search(r"^  total +0$", status.stdout, re.M), status.stdout

    listing = sasl.cli("dlq", "list", sasl.unique)
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert "TransformError" in listing.stdout, listing.stdout
    assert sasl.stop() == 0

    dry = sasl.cli("replay", sasl.unique, "--from", "earliest", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert re.search(r"^\s*total\s+21\b", dry.stdout, re.M), dry.stdout


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"STREAMAPP_KAFKA_SASL_PASSWORD": "not-the-password"}, "STREAMAPP_KAFKA_SASL_PASSWORD"),
        ({"STREAMAPP_KAFKA_SSL_CA_FILE": ""}, "STREAMAPP_KAFKA_SSL_CA_FILE"),
        ({"STREAMAPP_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}, "STREAMAPP_KAFKA_SECURITY_PROTOCOL"),
    ],
    ids=["wrong-password", "missing-ca", "plaintext-client"],
)
@pytest.mark.parametrize("command", [("status",), ("dlq", "list"), ("worker",)])
def test_refused_connection_is_one_line_naming_the_setting(
    sasl: SaslHarness, overrides: dict[str, str], setting: str, command: tuple[str, ...]
) -> None:
    sasl.overrides = overrides
    args = (*command, sasl.unique) if command != ("worker",) else command
    done = sasl.cli(*args, timeout=120)
    assert done.returncode != 0
    errors = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and setting in errors[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "not-the-password" not in done.stdout + done.stderr


def test_user_without_acls_is_told_so(sasl: SaslHarness) -> None:
    sasl.overrides = {
        "STREAMAPP_KAFKA_SASL_USERNAME": "noacl",
        "STREAMAPP_KAFKA_SASL_PASSWORD_FILE": str(
            sasl.env["STREAMAPP_KAFKA_SASL_PASSWORD_FILE"]
        ).replace("streamapp.password", "noacl.password"),
    }
    for args in (("status", sasl.unique), ("dlq", "list", sasl.unique), ("worker",)):
        done = sasl.cli(*args, timeout=120)
        assert done.returncode != 0
        errors = [x for x in done.stderr.splitlines() if x.startswith("error:")]
        assert len(errors) == 1, done.stderr[-2000:]
        assert "'noacl'" in errors[0] and "ACL" in errors[0], errors[0]
        assert "Traceback" not in done.stderr


def test_worker_refused_the_dlq_topic_says_which_acl_to_grant(
    sasl: SaslHarness, kafka_admin: Any
) -> None:
    """``nocreate`` may read, write and join groups but not create topics: the worker passes
    its group check, then cannot create its DLQ topic; one line names topic, user and ACL."""
    from confluent_kafka.admin import NewTopic

    for fut in kafka_admin.delete_topics([sasl.dlq]).values():
        fut.result(30)
    wait_until(lambda: sasl.dlq not in kafka_admin.list_topics(timeout=10).topics, what="no DLQ")
    sasl.overrides = {
        "STREAMAPP_KAFKA_SASL_USERNAME": "nocreate",
        "STREAMAPP_KAFKA_SASL_PASSWORD_FILE": str(
            sasl.env["STREAMAPP_KAFKA_SASL_PASSWORD_FILE"]
        ).replace("streamapp.password", "nocreate.password"),
    }
    try:
        done = sasl.cli("worker", timeout=120)
    finally:  # the harness's teardown deletes it
        for fut in kafka_admin.create_topics([NewTopic(sasl.dlq, 1, 1)]).values():
            fut.result(30)
    assert done.returncode != 0
    errors = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    assert repr(sasl.dlq) in errors[0] and "'nocreate'" in errors[0], errors[0]
    grant = f"--allow-principal 'User:nocreate' --operation Create --topic '{sasl.dlq}'"
    assert "kafka-acls" in errors[0] and grant in errors[0], errors[0]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]


def test_worker_refused_a_missing_output_topic_says_which_acl_to_grant(
    sasl: SaslHarness, kafka_admin: Any
) -> None:
    """The output topic is missing and ``nocreate`` may not create it: the producer's first
    write would fail; the worker's start says so in one line instead."""
    from confluent_kafka.admin import NewTopic

    for fut in kafka_admin.delete_topics([sasl.output]).values():
        fut.result(30)
    wait_until(lambda: sasl.output not in kafka_admin.list_topics(timeout=10).topics, what="gone")
    sasl.overrides = {
        "STREAMAPP_KAFKA_SASL_USERNAME": "nocreate",
        "STREAMAPP_KAFKA_SASL_PASSWORD_FILE": str(
            sasl.env["STREAMAPP_KAFKA_SASL_PASSWORD_FILE"]
        ).replace("streamapp.password", "nocreate.password"),
    }
    try:
        done = sasl.cli("worker", timeout=120)
    finally:  # the harness's teardown deletes it
        for fut in kafka_admin.create_topics([NewTopic(sasl.output, 1, 1)]).values():
            fut.result(30)
    assert done.returncode != 0
    errors = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    assert f"output topic {sasl.output!r}" in errors[0] and "'nocreate'" in errors[0], errors[0]
    grant = f"--allow-principal 'User:nocreate' --operation Create --topic '{sasl.output}'"
    assert grant in errors[0], errors[0]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]


def test_table_reader_and_freshness_clients_through_sasl_ssl(
    sasl: SaslHarness, pg_warehouse: Any
) -> None:
    """The clients the worker made later (a materialised table's reader, the freshness
    service's topic lookups) take the same SASL_SSL settings: the restore reads every row
    through the listener (a client on the wrong protocol could not, and the start would fail)."""
    import json

    from worker_harness import free_port, http_get

    sasl.web_port = free_port()
    sasl.overrides["STREAMAPP_FRESHNESS_INTERVAL"] = "1"
    module = sasl.module.read_text()
    assert "    sinks=[" in module
    sasl.module.write_text(module.replace("    sinks=[", "    materialize=True,\n    sinks=[", 1))
    for i in range(1, 21):
        sasl.send("c", after=row(i), lsn=i)
    sasl.flush()
    sasl.start()
    wait_until(lambda: len(sasl.pg_rows(pg_warehouse)) == 20, what="20 rows", harness=sasl)
    log = sasl.log.read_text(errors="replace")
    assert re.search(rf"table {re.escape(sasl.unique)}: 20 rows from .* restored", log), log

    def partitions_total() -> int:
        status, body = http_get(sasl.web_port, "/freshness")
        assert status == 200, body
        return int(json.loads(body)["topologies"][sasl.unique]["partitions_total"])

    # the partition count comes from the freshness service's own Kafka client
    wait_until(lambda: partitions_total() > 0, what="/freshness partition count", harness=sasl)
    for refusal in ("SaslAuthenticationError", "SSL handshake failed", "Authentication failed"):
        assert refusal not in log, log
    assert sasl.stop() == 0
