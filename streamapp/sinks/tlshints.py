"""One-line reasons and hints for refused sink connections (TLS, certificates, passwords).

Each hint names the setting to fix. Reasons come from the client's own message, first line only
and redacted: libpq and redis-py never quote a password, but a DSN in a message is hidden anyway.
"""

from __future__ import annotations

import re
import ssl

from streamapp.redact import redact_url

_LIBPQ_PREFIX = re.compile(
    r"^(?:connection failed: )?(?:connection to server at [^,]*, port \d+ failed: )?"
    r"(?:connection is bad: )?(?:FATAL:\s+)?"
)


def untrusted(exc: BaseException) -> bool:
    """True when ``exc`` (or what it wraps) is a failed check of the server's certificate."""
    seen: BaseException | None = exc
    for _ in range(8):  # a chain is short; a cyclic one must not loop forever
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def first_line(exc: BaseException) -> str:
    """The first non-empty line of ``exc``'s message, redacted (its class name if empty)."""
    lines = [x.strip() for x in str(exc).splitlines() if x.strip()]
    return redact_url(lines[0]) if lines else type(exc).__name__


def libpq_reason(exc: BaseException) -> str:
    """libpq's reason for a refused connection, without its ``connection to server at``
    preamble (``server does not support SSL, but SSL was required``)."""
    return _LIBPQ_PREFIX.sub("", first_line(exc)).strip()


def libpq_hint(reason: str, env: str) -> str:
    """What to change in the DSN setting ``env`` about libpq's ``reason``."""
    text = reason.lower()
    if "root certificate file" in text or "certificate verify failed" in text:
        return (
            f"the server's certificate cannot be checked: set sslrootcert in {env} to the PEM "
            "file of the CA that signed it"
        )
    if "does not support ssl" in text:
        return f"the server offers no TLS: enable it there, or lower sslmode in {env}"
    if "no encryption" in text:
        return f"the server requires TLS for this user: add sslmode=verify-full to {env}"
    if "password authentication failed" in text or "no password supplied" in text:
        return f"fix the user or password in {env}"
    if "does not match host name" in text:
        return f"use the host name the server's certificate holds, or sslmode=verify-ca, in {env}"
    if "certificate" in text or "sslcert" in text or "sslkey" in text:
        return f"check the client certificate (sslcert, sslkey) in {env}"
    return f"check that the server is up and {env} is right"
