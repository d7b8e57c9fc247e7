"""What the connectivity tests share: the stack's SASL_SSL listener, auth proxy and TLS sink
ports and files, and the harnesses that reach them (a module of its own: test modules import it
by a name no other test directory uses, where ``from conftest import`` got whichever conftest
was imported first in a run over several directories)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ops"))

from ops_harness import OpsHarness

from streamapp.settings import REPO_ROOT

SASL_PORT = int(os.environ.get("STREAMAPP_KAFKA_SASL_PORT", "") or "19094")
SASL_DIR = Path(os.environ.get("STREAMAPP_STACK_DIR", "") or REPO_ROOT / ".stack") / "kafka-sasl"


# The stack's authenticating HTTPS proxy (infra/local/stack/authproxy.py) in front of the registry
# and Kafka Connect's REST API; its ports default to 363 above the ports it fronts, as the stack's.
REGISTRY_TLS_PORT = int(
    os.environ.get("STREAMAPP_REGISTRY_TLS_PORT", "")
    or int(os.environ.get("STREAMAPP_REGISTRY_PORT", "") or "18081") + 363
)
CONNECT_TLS_PORT = int(
    os.environ.get("STREAMAPP_CONNECT_TLS_PORT", "")
    or int(os.environ.get("STREAMAPP_CONNECT_PORT", "") or "18083") + 363
)
ICEBERG_TLS_PORT = int(
    os.environ.get("STREAMAPP_ICEBERG_REST_TLS_PORT", "")
    or int(os.environ.get("STREAMAPP_ICEBERG_REST_PORT", "") or "18181") + 363
)
AUTH_DIR = SASL_DIR.parent / "authproxy"

# The sinks over TLS (infra/local/stack/pgtls.py, redis.py): the stack CA, the TLS roles' files.
STACK_CA = SASL_DIR / "ca.pem"
TLS_DIR = SASL_DIR.parent / "tls"
PG_PORT = int(os.environ.get("STREAMAPP_PG_PORT", "") or "15432")
REDIS_TLS_PORT = int(os.environ.get("STREAMAPP_REDIS_TLS_PORT", "") or "16380")


def proxy_env(secrets: Path) -> dict[str, str]:
    """The registry and Connect settings through the proxy as user ``streamapp`` (basic auth),
    with the user info in a file under ``secrets`` as a mounted Secret would hold it."""
    password = (AUTH_DIR / "streamapp.password").read_text().strip()
    secrets.mkdir(exist_ok=True)
    user_info = secrets / "user-info"
    user_info.write_text(f"streamapp:{password}\n")
    user_info.chmod(0o600)
    return {
        "STREAMAPP_REGISTRY_URL": f"https://127.0.0.1:{REGISTRY_TLS_PORT}/apis/ccompat/v7",
        "STREAMAPP_REGISTRY_USER_INFO_FILE": str(user_info),
        "STREAMAPP_REGISTRY_CA_FILE": str(SASL_DIR / "ca.pem"),
        "STREAMAPP_CONNECT_URL": f"https://127.0.0.1:{CONNECT_TLS_PORT}",
        "STREAMAPP_CONNECT_USER_INFO_FILE": str(user_info),
        "STREAMAPP_CONNECT_CA_FILE": str(SASL_DIR / "ca.pem"),
    }


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


class ProxyHarness(OpsHarness):
    """An OpsHarness whose worker and CLI reach the registry and Connect only through the
    authenticating proxy (Kafka over the PLAINTEXT listener); ``overrides`` go last."""

    base: dict[str, str]
    overrides: dict[str, str]

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.base, **self.overrides}
