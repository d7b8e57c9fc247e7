"""redact_url: no form of a credential survives, in a setting's value or in an error's text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.redact import redact_url

PW = "S3ntinel-pw-7x"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # user and password
        ("postgresql://u:S3ntinel-pw-7x@h:5432/db", "postgresql://u:***@h:5432/db"),
        # a password without a user name (redis-py's form)
        ("redis://:S3ntinel-pw-7x@h:6379/0", "redis://:***@h:6379/0"),
        # a password with @ in it: userinfo ends at the last @
        ("postgresql://u:p@ss@S3ntinel-pw-7x@h/db", "postgresql://u:***@h/db"),
        ("http://u:a@b:S3ntinel-pw-7x@h:8123/db", "http://u:***@h:8123/db"),
        # a password with / ? # in it (not percent-encoded)
        ("postgresql://u:a/S3ntinel-pw-7x@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:a#S3ntinel-pw-7x@h/db", "postgresql://u:***@h/db"),
        # percent-encoded
        ("postgresql://u:S3ntinel%40pw-7x@h/db", "postgresql://u:***@h/db"),
        # query parameters
        ("postgresql://u@h/db?password=S3ntinel-pw-7x", "postgresql://u@h/db?password=***"),
        (
            "postgresql://h/db?sslmode=require&password=S3ntinel-pw-7x&application_name=x",
            "postgresql://h/db?sslmode=require&password=***&application_name=x",
        ),
        ("http://h:8123/db?password=p@S3ntinel-pw-7x", "http://h:8123/db?password=***"),
        ("https://h/api?access_token=S3ntinel-pw-7x", "https://h/api?access_token=***"),
        ("postgresql://h/db?sslpassword=S3ntinel-pw-7x", "postgresql://h/db?sslpassword=***"),
        # libpq keyword/value DSNs
        (
            "host=h port=5432 dbname=db user=u password=S3ntinel-pw-7x",
            "host=h port=5432 dbname=db user=u password=***",
        ),
        ("host=h password = S3ntinel-pw-7x dbname=db", "host=h password = *** dbname=db"),
        ("host=h password='a b S3ntinel-pw-7x' dbname=db", "host=h password=*** dbname=db"),
        ("host=h password='it\\'s S3ntinel-pw-7x' dbname=db", "host=h password=*** dbname=db"),
        ("password=S3ntinel-pw-7x", "password=***"),
        # a URL typed without its scheme
        ("u:S3ntinel-pw-7x@h:8083", "u:***@h:8083"),
        # free text, e.g. an exception message quoting a URL
        (
            "Invalid url http://u:S3ntinel-pw-7x@h:1/apis (connection refused)",
            "Invalid url http://u:***@h:1/apis (connection refused)",
        ),
        (
            "can't reach 'redis://:S3ntinel-pw-7x@h:6379/0': refused",
            "can't reach 'redis://:***@h:6379/0': refused",
        ),
        # nothing to hide
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("http://127.0.0.1:18081/apis/ccompat/v7", "http://127.0.0.1:18081/apis/ccompat/v7"),
        ("127.0.0.1:19092", "127.0.0.1:19092"),
        ("chdb://.stack/data/chdb", "chdb://.stack/data/chdb"),
    ],
)
def test_every_form_of_a_credential_is_hidden(value: str, expected: str) -> None:
    redacted = redact_url(value)
    assert redacted == expected
    assert PW not in redacted and "S3ntinel" not in redacted


_PASSWORD = st.text(
    alphabet=st.characters(codec="ascii", exclude_characters="\x00\n\r\t \x0b\x0c"),
    min_size=1,
    max_size=20,
)


@given(password=_PASSWORD)
def test_no_url_password_survives(password: str) -> None:
    secret = f"Zq{password}"
    for form in (
        f"postgresql://user:{secret}@db.example:5432/source",
        f"redis://:{secret}@cache.example:6379/0",
        f"http://default:{secret}@ch.example:8123/default",
        f"postgresql://user@db.example/source?password={secret}",
    ):
        shown = redact_url(form)
        assert secret not in shown, (form, shown)


@given(password=_PASSWORD.filter(lambda p: "'" not in p and "\\" not in p))
def test_no_keyword_dsn_password_survives(password: str) -> None:
    secret = f"Zq{password}"
    for form in (
        f"host=db.example dbname=source password={secret}",
        f"host=db.example password='{secret} x' dbname=source",
    ):
        shown = redact_url(form)
        assert secret not in shown, (form, shown)
