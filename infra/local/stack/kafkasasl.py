"""The broker's secured listeners: SASL_SSL (SCRAM-SHA-512) and SSL with client certificates
(mTLS), their certificates, users and ACLs.

Everything a client needs is written into ``<stack>/kafka-sasl/``: ``ca.pem`` (the CA that signed
the broker's certificate, for STREAMAPP_KAFKA_SSL_CA_FILE), and one password file per SCRAM user
(for STREAMAPP_KAFKA_SASL_PASSWORD_FILE): ``streamapp`` may do everything (ACLs on all topics,
groups, transactional ids and the cluster), ``noacl`` may log in and nothing else, ``nocreate``
may do what a worker does except create topics (Read/Write/Describe on topics, its groups,
IdempotentWrite on the cluster). The mTLS listener requires a client certificate signed by the
same CA; the stack's ``<stack>/tls/kafka-client.pem`` (certs.py) is the principal
``User:CN=kafka-client``, which has the ACLs of ``streamapp``. The certificates come from
openssl (a CA and a broker certificate for 127.0.0.1 and localhost); the users and ACLs from
Kafka's own ConfigCommand and AclCommand over the PLAINTEXT listener, whose principal
(ANONYMOUS) is a super user, so the local stack's other clients need no ACLs.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

from common import Config, StackError, require_tool, run, say

USERS = ("streamapp", "noacl")
ACL_USER = "streamapp"
NOCREATE_USER = "nocreate"
MTLS_CLIENT = "kafka-client"  # the stack certificate (and its CN) of the mTLS principal
MTLS_PRINCIPAL = f"User:CN={MTLS_CLIENT}"

LISTENER_PROPERTIES = """
# SASL_SSL listener (SCRAM-SHA-512) with ACLs: infra/local/stack/kafkasasl.py
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location={keystore}
ssl.keystore.password={store_password}
ssl.key.password={store_password}
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false
# SSL listener that requires a client certificate signed by the stack CA (mTLS)
listener.name.ssl.ssl.client.auth=required
listener.name.ssl.ssl.truststore.type=PEM
listener.name.ssl.ssl.truststore.location={ca}
"""


def sasl_dir(cfg: Config) -> Path:
    return cfg.state_dir / "kafka-sasl"


def listener_properties(cfg: Config) -> str:
    """The broker properties of the SASL_SSL and mTLS listeners (certificates made on first
    use)."""
    keystore, password = ensure_certificates(sasl_dir(cfg))
    return LISTENER_PROPERTIES.format(
        keystore=keystore, store_password=password, ca=sasl_dir(cfg) / "ca.pem"
    )


def _secret(path: Path) -> str:
    """A random secret kept in ``path`` (mode 0600), made once."""
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def ensure_certificates(folder: Path) -> tuple[Path, str]:
    """A CA (``ca.pem``) and a broker key and certificate signed by it, for 127.0.0.1 and
    localhost, in a PKCS12 keystore; returns (keystore, its password). Made once."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    password = _secret(folder / "keystore.password")
    keystore = folder / "broker.p12"
    if keystore.exists():
        return keystore, password
    openssl = require_tool("openssl", "install openssl (apt-get install -y openssl)")
    say(f"generating the SASL_SSL listener's CA and broker certificate in {folder}")

    def ssl(*args: str) -> None:
        run([openssl, *args], what=f"openssl {args[0]}")

    ca_key, ca, key, csr, cert = (
        folder / n for n in ("ca.key", "ca.pem", "broker.key", "broker.csr", "broker.pem")
    )
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "3650", "-subj", "/CN=streamapp local stack CA")  # fmt: skip
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=localhost")  # fmt: skip
    ext = folder / "broker.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "3650", "-extfile", str(ext))  # fmt: skip
    tmp = folder / "broker.p12.tmp"
    ssl("pkcs12", "-export", "-in", str(cert), "-inkey", str(key), "-certfile", str(ca),
        "-name", "broker", "-out", str(tmp), "-passout", f"pass:{password}")  # fmt: skip
    tmp.rename(keystore)
    return keystore, password


def ensure_users(cfg: Config, java: list[str], bootstrap: str) -> None:
    """Create the SCRAM users and their ACLs, and the mTLS principal's ACLs, once per Kafka data
    dir (a marker per step there, so a stack made before a step gets it on its next start), with
    Kafka's tools (``java`` runs a main class with the broker's jars)."""
    folder = sasl_dir(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    marker = cfg.data("kafka") / "sasl-users.done"
    if not marker.exists():
        say("creating the SASL_SSL listener's SCRAM users and ACLs")
        for user in USERS:
            _scram_user(java, bootstrap, user, _secret(folder / f"{user}.password"))
        _acl(java, bootstrap, f"User:{ACL_USER}", ["All"],
             "--topic", "*", "--group", "*", "--transactional-id", "*", "--cluster")  # fmt: skip
        marker.write_text("ok\n")
    marker = cfg.data("kafka") / "sasl-users-2.done"
    if not marker.exists():
        say(f"creating the user {NOCREATE_USER!r} and the ACLs of {MTLS_PRINCIPAL} (mTLS)")
        user = NOCREATE_USER
        _scram_user(java, bootstrap, user, _secret(folder / f"{user}.password"))
        _acl(java, bootstrap, f"User:{user}", ["Read", "Write", "Describe", "DescribeConfigs"],
             "--topic", "*")  # fmt: skip
        _acl(java, bootstrap, f"User:{user}", ["All"], "--group", "*")
        _acl(java, bootstrap, f"User:{user}", ["IdempotentWrite", "Describe"], "--cluster")
        _acl(java, bootstrap, MTLS_PRINCIPAL, ["All"],
             "--topic", "*", "--group", "*", "--transactional-id", "*", "--cluster")  # fmt: skip
        marker.write_text("ok\n")


def _scram_user(java: list[str], bootstrap: str, user: str, password: str) -> None:
    _tool(java, "kafka.admin.ConfigCommand", "--bootstrap-server", bootstrap, "--alter",
          "--entity-type", "users", "--entity-name", user,
          "--add-config", f"SCRAM-SHA-512=[iterations=8192,password={password}]")  # fmt: skip


def _acl(java: list[str], bootstrap: str, principal: str, operations: list[str], *on: str) -> None:
    ops = [arg for op in operations for arg in ("--operation", op)]
    _tool(java, "kafka.admin.AclCommand", "--bootstrap-server", bootstrap, "--add",
          "--allow-principal", principal, *ops, *on)  # fmt: skip


def _tool(java: list[str], main: str, *args: str) -> None:
    done = subprocess.run([*java, main, *args], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise StackError(f"kafka {main.rsplit('.', 1)[-1]} failed: {last[0]}")
