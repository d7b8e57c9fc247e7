"""Hide passwords in URLs, DSNs and error text before anything is printed or logged.

Redaction parses rather than pattern-matches a happy path: the userinfo of a URL ends at the
*last* ``@`` of the URL (a password may contain ``@``; everything after the first ``:`` of the
userinfo is hidden, also when the user name is empty, as in ``redis://:pw@host``), secret query
parameters (``?password=``, ``sslpassword``, ``token``, ...) and libpq keyword pairs
(``password=... `` or ``password='quoted value'``) lose their values. When in doubt, more is
hidden, never less.
"""

from __future__ import annotations

import re
from typing import Final

# Names whose value is a credential: password, sslpassword, passwd, pwd, secret, token, apikey...
_SECRET_NAME: Final = (
    r"[\w.-]*(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|credentials?)[\w.-]*"
)
_QUERY_PAIR: Final = re.compile(rf"(?i)(?<![\w.-])({_SECRET_NAME})=[^&#\s]*")
_KEYWORD_PAIR: Final = re.compile(
    rf"(?i)(?<![\w.-])({_SECRET_NAME})(\s*=\s*)(?:'(?:[^'\\]|\\.)*(?:'|$)|[^\s'][^\s]*)"
)
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_URL_IN_TEXT: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
HIDDEN: Final = "***"


def _one_url(url: str) -> str:
    """``url`` (``scheme://...``) with its password and secret query values hidden."""
    scheme, _, rest = url.partition("://")
    rest = _QUERY_PAIR.sub(rf"\1={HIDDEN}", rest)
    at = rest.rfind("@")
    if at >= 0:
        user, colon, _password = rest[:at].partition(":")
        if colon:
            rest = f"{user}:{HIDDEN}{rest[at:]}"
    return f"{scheme}://{rest}"


def _userinfo_without_scheme(value: str) -> str:
    """``user:pass@host:port`` (no scheme, e.g. a mistyped URL) with the password hidden."""
    at = value.rfind("@")
    user, colon, _password = value[:at].partition(":")
    return f"{user}:{HIDDEN}{value[at:]}" if at >= 0 and colon else value


def raw_in_password(url: str, reserved: str = "@/?#") -> str:
    """The characters of ``reserved`` that stand unencoded in ``url``'s password ('' if none).

    Clients split a URL at those characters (libpq at the first ``@``, every parser at ``/``,
    ``?`` and ``#``), so such a password is misread and echoed, in part, in their errors.
    """
    scheme = _SCHEME.match(url.strip())
    if scheme is None:
        return ""
    rest = url.strip()[scheme.end() :]
    at = rest.rfind("@")
    _user, colon, password = rest[: max(at, 0)].partition(":")
    if not colon:
        return ""
    return "".join(c for c in reserved if c in password)


def redact_url(value: str) -> str:
    """``value`` with every credential hidden: a URL/DSN (``postgresql://u:***@host/db``), a
    libpq keyword DSN (``host=h password=***``), or free text that contains either (an
    exception message): every URL in it is redacted, then every ``secret=value`` pair."""
    text = value.strip()
    if _SCHEME.match(text):
        return _one_url(text)
    if text and not any(c.isspace() for c in text):
        value = _userinfo_without_scheme(text)
    redacted = _URL_IN_TEXT.sub(lambda m: _one_url(m.group(0)), value)
    return _KEYWORD_PAIR.sub(rf"\1\2{HIDDEN}", redacted)
