"""One set of Kafka and schema-registry client settings (TLS, SASL) for every streamapp client.

The STREAMAPP_KAFKA_* security settings (settings.py) become a :class:`KafkaSecurity`, which
renders them for confluent-kafka (librdkafka property names: ``security.protocol``,
``sasl.mechanism``, ``ssl.ca.location``, ...) and for Faust's aiokafka consumer
(``broker_credentials``). Every client (worker, output/DLQ producer, admin, every ops command) is
configured by :func:`kafka_conf` from the caller's :class:`Settings`, which it must pass: the
bootstrap servers and the security settings come from that one object, so a caller that built
its own Settings cannot get another environment's security by accident. Secrets are read from the
env var or from its ``*_FILE`` (as Kubernetes mounts them) and never appear in ``repr``, logs or
errors.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from streamapp.errors import ConfigError
from streamapp.kafkaerrors import ClientLog, client_error, remember_error
from streamapp.kafkaprops import DEDICATED, parse_properties

__all__ = ["DEDICATED", "KafkaSecurity", "kafka_conf", "parse_properties", "security_of"]

if TYPE_CHECKING:
    from streamapp.settings import Settings

PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def read_secret(value: str, file: str, env: str, root: Path) -> str:
    """``value``, else the content of ``file`` (one trailing newline dropped); ConfigError naming
    ``env``_FILE (never the content) when the file cannot be read."""
    if value or not file:
        return value
    path = Path(file) if Path(file).is_absolute() else root / file
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(
            f"{env}_FILE: cannot read {path} ({exc.strerror}); point it at the mounted "
            f"secret file or set {env}"
        ) from None
    return text[:-1] if text.endswith("\n") else text


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """Validated security settings of every Kafka client; secrets kept out of ``repr``."""

    protocol: str = "PLAINTEXT"
    mechanism: str = "PLAIN"
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    key_password: str = field(default="", repr=False)
    check_hostname: bool = True
    properties: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @classmethod
    def from_settings(cls, s: Settings) -> KafkaSecurity:
        """Read and check ``s``'s STREAMAPP_KAFKA_* security settings; ConfigError naming the
        setting to fix (never a secret's value)."""
        protocol = s.kafka_security_protocol.upper()
        if protocol not in PROTOCOLS:
            raise ConfigError(
                f"STREAMAPP_KAFKA_SECURITY_PROTOCOL={s.kafka_security_protocol!r}: use one of "
                f"{', '.join(PROTOCOLS)}"
            )
        mechanism = s.kafka_sasl_mechanism.upper()
        if mechanism not in MECHANISMS:
            raise ConfigError(
                f"STREAMAPP_KAFKA_SASL_MECHANISM={s.kafka_sasl_mechanism!r}: use one of "
                f"{', '.join(MECHANISMS)}"
            )
        root = s.path(".")
        password = read_secret(
            s.kafka_sasl_password, s.kafka_sasl_password_file, "STREAMAPP_KAFKA_SASL_PASSWORD", root
        )
        if protocol.startswith("SASL") and not (s.kafka_sasl_username and password):
            raise ConfigError(
                f"STREAMAPP_KAFKA_SECURITY_PROTOCOL={protocol} needs STREAMAPP_KAFKA_SASL_USERNAME "
                "and STREAMAPP_KAFKA_SASL_PASSWORD (or STREAMAPP_KAFKA_SASL_PASSWORD_FILE)"
            )
        files = {}
        for env, value in (
            ("STREAMAPP_KAFKA_SSL_CA_FILE", s.kafka_ssl_ca_file),
            ("STREAMAPP_KAFKA_SSL_CERT_FILE", s.kafka_ssl_cert_file),
            ("STREAMAPP_KAFKA_SSL_KEY_FILE", s.kafka_ssl_key_file),
        ):
            files[env] = str(s.path(value)) if value else ""
            if value and not Path(files[env]).is_file():
                raise ConfigError(f"{env}: {files[env]} is not a readable file; fix the path")
        if bool(files["STREAMAPP_KAFKA_SSL_CERT_FILE"]) != bool(
            files["STREAMAPP_KAFKA_SSL_KEY_FILE"]
        ):
            raise ConfigError(
                "STREAMAPP_KAFKA_SSL_CERT_FILE and STREAMAPP_KAFKA_SSL_KEY_FILE go together "
                "(client certificate and its key, for mTLS): set both or neither"
            )
        check = s.kafka_ssl_check_hostname.lower()
        if check not in ("true", "false"):
            raise ConfigError(
                f"STREAMAPP_KAFKA_SSL_CHECK_HOSTNAME={s.kafka_ssl_check_hostname!r}: "
                "use true or false"
            )
        security = cls(
            protocol=protocol,
            mechanism=mechanism,
            username=s.kafka_sasl_username,
            password=password,
            ca_file=files["STREAMAPP_KAFKA_SSL_CA_FILE"],
            cert_file=files["STREAMAPP_KAFKA_SSL_CERT_FILE"],
            key_file=files["STREAMAPP_KAFKA_SSL_KEY_FILE"],
            key_password=read_secret(
                s.kafka_ssl_key_password,
                s.kafka_ssl_key_password_file,
                "STREAMAPP_KAFKA_SSL_KEY_PASSWORD",
                root,
            ),
            check_hostname=check == "true",
            properties=parse_properties(s.kafka_properties),
        )
        security.ssl_context()  # the CA, certificate and key load, or ConfigError says which
        return security

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def librdkafka(self, *, with_properties: bool = True) -> dict[str, Any]:
        """The confluent-kafka (librdkafka) properties, pass-through properties last."""
        conf: dict[str, Any] = {"security.protocol": self.protocol}
        if self.protocol.startswith("SASL"):
            conf.update(
                {
                    "sasl.mechanism": self.mechanism,
                    "sasl.username": self.username,
                    "sasl.password": self.password,
                }
            )
        if self.uses_tls:
            conf["ssl.endpoint.identification.algorithm"] = (
                "https" if self.check_hostname else "none"
            )
            if self.ca_file:
                conf["ssl.ca.location"] = self.ca_file
            if self.cert_file:
                conf["ssl.certificate.location"] = self.cert_file
                conf["ssl.key.location"] = self.key_file
            if self.key_password:
                conf["ssl.key.password"] = self.key_password
        if with_properties:
            conf.update(self.properties)
        return conf

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of the aiokafka consumer (None without TLS)."""
        if not self.uses_tls:
            return None
        try:
            ctx = ssl.create_default_context(cafile=self.ca_file or None)
        except ssl.SSLError:
            raise ConfigError(
                f"STREAMAPP_KAFKA_SSL_CA_FILE: {self.ca_file} holds no PEM certificate; point it "
                "at the CA certificate (PEM) that signed the brokers' certificates"
            ) from None
        ctx.check_hostname = self.check_hostname
        if self.cert_file:
            try:
                ctx.load_cert_chain(self.cert_file, self.key_file, self.key_password or None)
            except ssl.SSLError:
                raise ConfigError(
                    f"STREAMAPP_KAFKA_SSL_CERT_FILE/_KEY_FILE: cannot load {self.cert_file} with "
                    f"the key {self.key_file}; check that they are a PEM certificate and its key, "
                    "and STREAMAPP_KAFKA_SSL_KEY_PASSWORD for an encrypted key"
                ) from None
        return ctx

    def faust_credentials(self) -> Any:
        """Faust's ``broker_credentials`` (SASLCredentials/SSLCredentials), None for PLAINTEXT."""
        from faust.auth import SASLCredentials, SSLCredentials

        if self.protocol.startswith("SASL"):
            return SASLCredentials(
                username=self.username,
                password=self.password,
                ssl_context=self.ssl_context(),
                mechanism=self.mechanism,
            )
        if self.protocol == "SSL":
            return SSLCredentials(self.ssl_context())
        return None

    def principal(self) -> str:
        """Who the broker sees, as an ACL hint names it: the SASL user, the client certificate's
        subject (mTLS: Kafka's default principal is ``User:<subject DN>``), else a generic name."""
        if self.protocol.startswith("SASL") and self.username:
            return f"STREAMAPP_KAFKA_SASL_USERNAME={self.username!r}"
        dn = self.certificate_dn()
        if dn:
            return f"the client certificate's principal User:{dn} (STREAMAPP_KAFKA_SSL_CERT_FILE)"
        return "streamapp's principal"

    def acl_principal(self) -> str:
        """The principal for ``kafka-acls --allow-principal`` ('' when unknown)."""
        if self.protocol.startswith("SASL") and self.username:
            return f"User:{self.username}"
        dn = self.certificate_dn()
        return f"User:{dn}" if dn else ""

    def certificate_dn(self) -> str:
        """The client certificate's subject as Kafka writes it (RFC 2253), '' without one."""
        if self.protocol != "SSL" or not self.cert_file:
            return ""
        return _subject_dn(self.cert_file)

    def describe(self) -> str:
        """One loggable line (no secrets): protocol, mechanism, user, CA."""
        parts = [f"security.protocol={self.protocol}"]
        if self.protocol.startswith("SASL"):
            parts.append(f"sasl.mechanism={self.mechanism} user={self.username}")
        if self.uses_tls:
            parts.append(f"CA={self.ca_file or 'system'}")
            if self.cert_file:
                parts.append(f"client cert={self.cert_file}")
        return " ".join(parts)


@functools.cache
def _subject_dn(cert_file: str) -> str:
    try:
        from cryptography import x509

        with open(cert_file, "rb") as f:
            return x509.load_pem_x509_certificate(f.read()).subject.rfc4514_string()
    except (ImportError, OSError, ValueError):
        return ""


@functools.lru_cache(maxsize=8)
def security_of(settings: Settings) -> KafkaSecurity:
    """``settings``' Kafka security settings, checked (ConfigError naming the setting to fix);
    cached per Settings object (they are frozen)."""
    return KafkaSecurity.from_settings(settings)


def kafka_conf(settings: Settings, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A confluent-kafka client config from ``settings``: its bootstrap servers and security
    settings, ``extra`` (the caller's defaults), then STREAMAPP_KAFKA_PROPERTIES (so a user's
    tuning wins)."""
    security = security_of(settings)
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "error_cb": remember_error,
        "logger": ClientLog(),
    }
    conf.update(security.librdkafka(with_properties=False))
    conf.update(extra or {})
    conf.update(security.properties)
    return conf


def registry_conf(
    url: str, settings: Settings, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A SchemaRegistryClient config for ``url`` with the STREAMAPP_REGISTRY_* auth and TLS of
    ``settings`` (required: no fallback to the process's environment, as for kafka_conf)."""
    s = settings
    root = s.path(".")
    conf: dict[str, Any] = {"url": url}
    user_info = read_secret(
        s.registry_user_info, s.registry_user_info_file, "STREAMAPP_REGISTRY_USER_INFO", root
    )
    token = read_secret(
        s.registry_bearer_token,
        s.registry_bearer_token_file,
        "STREAMAPP_REGISTRY_BEARER_TOKEN",
        root,
    )
    if user_info and token:
        raise ConfigError(
            "STREAMAPP_REGISTRY_USER_INFO and STREAMAPP_REGISTRY_BEARER_TOKEN are both set: "
            "the registry takes one of them; unset the other"
        )
    if user_info:
        if ":" not in user_info:
            raise ConfigError(
                "STREAMAPP_REGISTRY_USER_INFO must be <user>:<password> (or <api key>:<secret>)"
            )
        conf["basic.auth.user.info"] = user_info
    if token:
        conf.update(
            {
                "bearer.auth.credentials.source": "STATIC_TOKEN",
                "bearer.auth.token": token,
                "bearer.auth.logical.cluster": s.registry_logical_cluster,
            }
        )
    if s.registry_ca_file:
        ca = s.path(s.registry_ca_file)
        if not ca.is_file():
            raise ConfigError(
                f"STREAMAPP_REGISTRY_CA_FILE: {ca} is not a readable file; fix the path"
            )
        conf["ssl.ca.location"] = str(ca)
    conf.update(extra or {})
    return conf


def preflight(settings: Settings, *, group: str = "", timeout: float = 10.0) -> None:
    """Reach ``settings``' brokers (and describe consumer group ``group``: the user must be
    allowed to) with its security settings, before the worker's aiokafka clients start;
    ConfigError (one line naming what to fix) if that fails."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    security = security_of(settings)
    bootstrap = settings.kafka_bootstrap
    admin = AdminClient(kafka_conf(settings))
    try:
        admin.list_topics(timeout=timeout)
        if group:
            admin.describe_consumer_groups([group])[group].result(timeout)
    except (KafkaException, TimeoutError) as exc:
        text, hint = client_error(exc, admin, security)
        hint = hint or "check STREAMAPP_KAFKA_BOOTSTRAP and the broker (`streamapp check`)"
        raise ConfigError(f"Kafka at {bootstrap} ({security.describe()}): {text}; {hint}") from None


def check_output_topics(settings: Settings, topics: list[str], *, timeout: float = 15.0) -> None:
    """Before the worker starts: every output topic in ``topics`` exists, or the principal may
    create it (the producer's first write creates it; asked with a validate-only CreateTopics,
    which creates nothing); ConfigError naming topic, principal and the ACL to grant otherwise."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    security = security_of(settings)
    admin = AdminClient(kafka_conf(settings))
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException:
        return  # preflight reached the brokers: a failure here is the producer's to report
    missing = [t for t in dict.fromkeys(topics) if t not in existing]
    if not missing:
        return
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=-1, replication_factor=-1) for t in missing],
        validate_only=True,
    )
    for topic, future in futures.items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            text, _ = client_error(exc, admin, security)
            principal = security.acl_principal()
            grant = (
                f" (kafka-acls --bootstrap-server <broker> --add --allow-principal "
                f"'{principal}' --operation Create --topic '{topic}')"
                if principal
                else ""
            )
            raise ConfigError(
                f"output topic {topic!r} does not exist and creating it was refused ({text}): "
                f"create it yourself or grant {security.principal()} Create on it{grant}"
            ) from None
