"""Why a Kafka client failed, in one line that names the setting to fix.

librdkafka says why a broker is "down" (a refused login, an untrusted certificate, a plaintext
client on a TLS port) only through its error callback and log lines, which it serves when a
client polls: :func:`kafka_conf` installs the callbacks here, :func:`client_error` polls and
matches what they kept against :data:`_HINTS`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from streamapp.kafkaconf import KafkaSecurity

log = logging.getLogger("streamapp.kafka")
_lock = threading.Lock()
_last_error: list[str] = []


def remember_error(err: Any) -> None:
    """librdkafka's error callback: keep the last error for :func:`explain`, log it at INFO."""
    text = err.str() if hasattr(err, "str") else str(err)
    _keep(text)
    log.info("kafka client: %s", text)


def _keep(text: str) -> None:
    with _lock:
        if text not in _last_error:
            _last_error[:] = [*_last_error[-4:], text]


class ClientLog:
    """librdkafka's log lines (connection failures repeat every second) at DEBUG: the error
    callback already keeps each error, and commands print one line of their own."""

    def log(self, level: int, fmt: str, *args: Any) -> None:
        log.debug(fmt, *args)
        if args and args[0] == "FAIL":  # a connection failed: keep why, for explain()
            _keep(str(args[-1]))


def client_error(exc: BaseException, client: Any, security: KafkaSecurity) -> tuple[str, str]:
    """(the error's text, what to fix or '') for a failed call of ``client``, configured with
    ``security`` (an ACL hint names its principal); the hint also draws on errors the client
    reported meanwhile (served by polling ``client``)."""
    err = exc.args[0] if exc.args else exc
    text = err.str() if hasattr(err, "str") else (str(err) or type(exc).__name__)
    if client is not None and hasattr(client, "poll"):
        with contextlib.suppress(Exception):  # only a better message is at stake
            client.poll(0)  # serve error_cb: why the brokers are "down"
    return text, explain(text, principal=security.principal())


def last_error() -> str:
    """The last few distinct errors librdkafka clients reported ('' if none)."""
    with _lock:
        return " | ".join(_last_error)


# (substring of a client error, lower case) -> what to fix
_HINTS: Final = (
    (
        (
            "alert bad certificate",
            "alert certificate required",
            "certificate required",
            "peer did not return a certificate",
        ),
        "the broker requires a client certificate it trusts (mTLS): set "
        "STREAMAPP_KAFKA_SSL_CERT_FILE and STREAMAPP_KAFKA_SSL_KEY_FILE to a certificate signed "
        "by a CA the broker trusts",
    ),
    (
        ("authentication failed", "invalid credentials", "sasl authentication error", "saslauth"),
        "check STREAMAPP_KAFKA_SASL_USERNAME, STREAMAPP_KAFKA_SASL_PASSWORD and "
        "STREAMAPP_KAFKA_SASL_MECHANISM (the broker refused the login)",
    ),
    (
        (
            "certificate verify failed",
            "unable to get local issuer",
            "self-signed certificate",
            "self signed certificate",
            "certificate_verify_failed",
        ),
        "the broker's certificate could not be verified: set STREAMAPP_KAFKA_SSL_CA_FILE to the "
        "CA that signed it (if that is right, the certificate does not name the host in "
        "STREAMAPP_KAFKA_BOOTSTRAP: see STREAMAPP_KAFKA_SSL_CHECK_HOSTNAME)",
    ),
    (
        ("hostname mismatch", "doesn't match", "does not match", "ip address mismatch"),
        "the broker's certificate does not name the host: fix STREAMAPP_KAFKA_BOOTSTRAP, or "
        "set STREAMAPP_KAFKA_SSL_CHECK_HOSTNAME=false",
    ),
    (
        ("authorization failed", "not authorized", "authorization_failed", "authorizationfailed"),
        "{user} lacks an ACL for this: grant it on the broker (kafka-acls) or use another "
        "user (STREAMAPP_KAFKA_SASL_USERNAME) or client certificate",
    ),
    (
        (
            "incorrect security.protocol",
            "connecting to a ssl listener",
            "wrong version number",
            "unsupported sasl mechanism",
            "unexpected eof",
            "packet length",
            "in state apiversion_query",
        ),
        "the listener speaks another protocol: check STREAMAPP_KAFKA_SECURITY_PROTOCOL "
        "(and the port in STREAMAPP_KAFKA_BOOTSTRAP)",
    ),
)


def explain(*texts: str, principal: str = "streamapp's principal") -> str:
    """What to fix for a client error (``texts`` and the last librdkafka error); '' if unknown.
    An ACL hint names ``principal`` (see :meth:`KafkaSecurity.principal`)."""
    haystack = " ".join((*texts, last_error())).lower()
    for needles, hint in _HINTS:
        if any(n in haystack for n in needles):
            return hint.replace("{user}", principal)
    return ""


def unseen_by_acl(security: KafkaSecurity) -> str:
    """With a SASL user or a client certificate, the broker hides the topics the principal may
    not Describe: the end of a sentence that says so ('' without one, where there is no
    principal to blame)."""
    if not security.acl_principal():
        return ""
    return (
        f" is hidden from {security.principal()}, which lacks a Describe ACL on it: grant it "
        "with kafka-acls, or use another principal"
    )
