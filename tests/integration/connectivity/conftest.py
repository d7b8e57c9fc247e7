"""Fixtures for tests through the local stack's SASL_SSL listener (SCRAM-SHA-512, ACLs).

The listener, its CA and the SCRAM users come from ``make up`` (infra/local/stack/kafkasasl.py):
its port is STREAMAPP_KAFKA_SASL_PORT (default 19094) and its files are in
``<STREAMAPP_STACK_DIR>/kafka-sasl``. Topics are provisioned and removed over the PLAINTEXT
listener; the code under test talks only to the SASL_SSL one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ops"))

from ops_harness import OpsHarness
from worker_harness import provision, teardown

from streamapp.settings import REPO_ROOT, Settings

SASL_PORT = int(os.environ.get("STREAMAPP_KAFKA_SASL_PORT", "") or "19094")
SASL_DIR = Path(os.environ.get("STREAMAPP_STACK_DIR", "") or REPO_ROOT / ".stack") / "kafka-sasl"


def sasl_env(user: str = "streamapp") -> dict[str, str]:
    """The STREAMAPP_KAFKA_* settings of ``user`` on the SASL_SSL listener."""
    return {
        "STREAMAPP_KAFKA_BOOTSTRAP": f"127.0.0.1:{SASL_PORT}",
        "STREAMAPP_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "STREAMAPP_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "STREAMAPP_KAFKA_SASL_USERNAME": user,
        "STREAMAPP_KAFKA_SASL_PASSWORD_FILE": str(SASL_DIR / f"{user}.password"),
        "STREAMAPP_KAFKA_SSL_CA_FILE": str(SASL_DIR / "ca.pem"),
    }


class SaslHarness(OpsHarness):
    """An OpsHarness whose worker and CLI reach Kafka only through the SASL_SSL listener."""

    overrides: dict[str, str]

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **sasl_env(), **self.overrides}


@pytest.fixture(scope="session")
def sasl_listener(stack: Settings) -> Path:
    """The listener's files; fails (never skips) when the stack has no SASL_SSL listener."""
    from streamapp.observability.health import check_all

    missing = [p for p in (SASL_DIR / "ca.pem", SASL_DIR / "streamapp.password") if not p.exists()]
    if missing:
        pytest.fail(f"no SASL_SSL listener files ({missing[0]}): run `make up`", pytrace=False)
    env = {**os.environ, **sasl_env()}
    kafka = next(c for c in check_all(Settings.from_env(env)) if c.service == "kafka")
    if not kafka.ok:
        pytest.fail(f"SASL_SSL listener at {kafka.address}: {kafka.detail}", pytrace=False)
    return SASL_DIR


@pytest.fixture
def sasl(
    sasl_listener: Path,
    stack: Settings,
    unique: str,
    tmp_path: Path,
    registry_client: Any,
    kafka_admin: Any,
    pg_warehouse: Any,
    redis_client: Any,
) -> Iterator[SaslHarness]:
    h = SaslHarness(stack, unique, tmp_path, registry_client)
    h.overrides = {}
    provision(h, kafka_admin)
    yield h
    teardown(
        h,
        kafka_admin=kafka_admin,
        pg_warehouse=pg_warehouse,
        redis_client=redis_client,
        registry_client=registry_client,
    )
