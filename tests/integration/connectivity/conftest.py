"""Fixtures for tests through the local stack's SASL_SSL listener (SCRAM-SHA-512, ACLs) and
its authenticating HTTPS proxy in front of the registry and Kafka Connect (``auth_proxy``).

The listener, its CA and the SCRAM users come from ``make up`` (infra/local/stack/kafkasasl.py):
its port is STREAMAPP_KAFKA_SASL_PORT (default 19094) and its files are in
``<STREAMAPP_STACK_DIR>/kafka-sasl``. Topics are provisioned and removed over the PLAINTEXT
listener; the code under test talks only to the SASL_SSL one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from connectivity_env import (
    AUTH_DIR,
    SASL_DIR,
    ProxyHarness,
    SaslHarness,
    proxy_env,
    sasl_env,
)

from streamapp.settings import Settings


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
def sasl(sasl_listener: Path, provisioned: Callable[..., Any]) -> SaslHarness:
    h: SaslHarness = provisioned(SaslHarness)
    h.overrides = {}
    return h


@pytest.fixture(scope="session")
def auth_proxy(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The proxy's folder; fails (never skips) when the stack runs no proxy or a round trip
    through it with the password does not list the registry's subjects and Connect's plugins."""
    from streamapp.errors import RegistryError
    from streamapp.ops import OpsError
    from streamapp.ops.connect import ConnectAuth, ConnectClient
    from streamapp.registry import probe

    needed = (AUTH_DIR / "streamapp.password", AUTH_DIR / "bearer.token", SASL_DIR / "ca.pem")
    missing = [p for p in needed if not p.exists()]
    if missing:
        pytest.fail(f"no authenticating proxy files ({missing[0]}): run `make up`", pytrace=False)
    settings = Settings.from_env({**os.environ, **proxy_env(tmp_path_factory.mktemp("proxy"))})
    try:
        probe(settings)
        ConnectClient(settings.connect_url, auth=ConnectAuth.from_settings(settings)).plugins()
    except (RegistryError, OpsError) as exc:
        pytest.fail(f"the stack's auth proxy: {exc}; run `make up`", pytrace=False)
    return AUTH_DIR


@pytest.fixture
def proxied(auth_proxy: Path, provisioned: Callable[..., Any], tmp_path: Path) -> ProxyHarness:
    h: ProxyHarness = provisioned(ProxyHarness)
    h.base = proxy_env(tmp_path / "secrets")
    h.overrides = {}
    return h
