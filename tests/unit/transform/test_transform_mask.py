"""t.mask: every mask, key rules, secrets, and the never-leaks properties."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from transform_fixtures import SECRETS, compiled, event, problems, run

from streamapp.errors import TransformError
from streamapp.records import UNCHANGED
from streamapp.topology import t
from streamapp.transform.mask import MaskFunction, hmac_sha256_hex, secret_env_var
from streamapp.types import INT, STRING

COLS = {"id": "int", "v": "string", "n": "int", "d": "date"}


def _hmac(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


def _masker(fn: MaskFunction, secrets: dict[str, bytes] = SECRETS) -> Any:
    top = compiled({"id": "int", "v": "string"}, [t.mask("v", fn)], secrets=secrets)
    return lambda value: top.process(event("c", after={"id": 1, "v": value}))[0].value["v"]


@pytest.mark.parametrize(
    ("fn", "value", "expected"),
    [
        (t.redact(), "alice", "***"),
        (t.redact("[hidden]"), "alice", "[hidden]"),
        (t.keep_first(2), "abcdef", "ab****"),
        (t.keep_last(4), "+4915112345678", "**********5678"),
        (t.keep_last(4), "1234", "**34"),  # never more than half
        (t.keep_last(4), "123", "**3"),
        (t.keep_last(0), "abc", "***"),
        (t.keep_first(3), "", ""),
        (t.null_out(), "alice", None),
        (t.email_keep_domain(), "alice@example.com", "***@example.com"),
        (t.email_keep_domain(), "a@b@example.com", "***@example.com"),
        (t.email_keep_domain(), "not-an-email", "***"),
        (t.email_keep_domain(), "@example.com", "***"),
        (t.email_keep_domain(), "alice@", "***"),
        (t.hmac_sha256(), "123-45-6789", _hmac(SECRETS["default"], "123-45-6789")),
        (t.hmac_sha256("pii"), "123-45-6789", _hmac(SECRETS["pii"], "123-45-6789")),
        (
            t.tokenize(),
            "alice",
            "tok_" + _hmac(SECRETS["default"], "streamapp.tokenize\x00alice")[:32],
        ),
        (
            t.tokenize(prefix="cust_"),
            "alice",
            "cust_" + _hmac(SECRETS["default"], "streamapp.tokenize\x00alice")[:32],
        ),
    ],
)
def test_masks(fn: MaskFunction, value: str, expected: str | None) -> None:
    assert _masker(fn)(value) == expected


@pytest.mark.parametrize(
    "fn",
    [
        t.redact(),
        t.keep_first(2),
        t.keep_last(2),
        t.null_out(),
        t.hmac_sha256(),
        t.tokenize(),
        t.email_keep_domain(),
    ],
)
@pytest.mark.parametrize("value", [None, UNCHANGED])
def test_null_and_unchanged_pass_through(fn: MaskFunction, value: Any) -> None:
    assert _masker(fn)(value) is value


def test_unchanged_masked_column_is_listed() -> None:
    top = compiled(COLS, [t.mask("v", t.hmac_sha256())])
    out = top.process(event("u", after={"id": 1, "v": UNCHANGED, "n": 1}))[0]
    assert out.unchanged == frozenset({"v"})


@pytest.mark.parametrize(
    ("column", "fn", "value", "expected"),
    [
        ("n", t.hmac_sha256(), 42, _hmac(SECRETS["default"], "42")),
        ("n", t.redact(), 42, "***"),
        ("n", t.null_out(), 42, None),
    ],
)
def test_masking_other_types(column: str, fn: MaskFunction, value: Any, expected: Any) -> None:
    assert run(COLS, [t.mask(column, fn)], {"id": 1, column: value})[column] == expected


def test_hmac_of_uuid_and_bytes() -> None:
    cols = {"id": "int", "u": "uuid", "b": "bytes"}
    u = uuid.UUID(int=7)
    out = run(
        cols,
        [t.mask("u", t.hmac_sha256()), t.mask("b", t.hmac_sha256())],
        {"id": 1, "u": u, "b": b"\x00\x01"},
    )
    assert out["u"] == _hmac(SECRETS["default"], str(u))
    assert out["b"] == hmac.new(SECRETS["default"], b"\x00\x01", hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("fn", "out_type"),
    [(t.redact(), STRING), (t.null_out(), INT), (t.hmac_sha256(), STRING), (t.tokenize(), STRING)],
)
def test_mask_output_types(fn: MaskFunction, out_type: Any) -> None:
    assert compiled(COLS, [t.mask("n", fn)]).output_columns["n"] == out_type


@pytest.mark.parametrize(
    ("transforms", "secrets", "line"),
    [
        (
            [t.mask("v", t.hmac_sha256())],
            {},
            "mask('v', hmac_sha256()): mask secret 'default' missing: set STREAMAPP_MASK_SECRET",
        ),
        (
            [t.mask("v", t.tokenize(secret="crm"))],
            SECRETS,
            "mask('v', tokenize(secret='crm')): mask secret 'crm' missing: "
            "set STREAMAPP_MASK_SECRET_CRM",
        ),
        (
            [t.mask("v", t.hmac_sha256())],
            {"default": b"short"},
            "mask('v', hmac_sha256()): mask secret 'default' is shorter than 16 bytes; "
            "set STREAMAPP_MASK_SECRET to at least 16 random bytes",
        ),
        (
            [t.mask("v", t.hmac_sha256("Bad-Name"))],
            SECRETS,
            "mask('v', hmac_sha256(secret='Bad-Name')): a secret name is lower-case letters, "
            "digits and _",
        ),
        (
            [t.mask("n", t.keep_last(4))],
            SECRETS,
            "mask('n', keep_last(n=4)): keep_last masks strings, 'n' is int; cast it first",
        ),
        (
            [t.mask("d", t.email_keep_domain())],
            SECRETS,
            "mask('d', email_keep_domain()): email_keep_domain masks strings, 'd' is date; "
            "cast it first",
        ),
        (
            [t.mask("d", t.hmac_sha256())],
            SECRETS,
            "mask('d', hmac_sha256()): hmac_sha256 masks strings, ints, UUIDs and bytes, 'd' "
            "is date; cast it to string first",
        ),
        (
            [t.mask("v", t.keep_first(-1))],
            SECRETS,
            "mask('v', keep_first(n=-1)): n must be a whole number >= 0",
        ),
        (
            [t.mask("v", t.redact(3))],  # type: ignore[arg-type]
            SECRETS,
            "mask('v', redact(replacement=3)): the replacement must be a string",
        ),
        (
            [t.mask("vv", t.redact())],
            SECRETS,
            "mask('vv', redact()): unknown field 'vv' at this point of the chain; "
            "did you mean 'v'?",
        ),
    ],
)
def test_mask_problems(transforms: list[Any], secrets: dict[str, bytes], line: str) -> None:
    assert problems(COLS, transforms, secrets=secrets) == [line]


def test_missing_secret_is_reported_even_for_an_unknown_column() -> None:
    assert len(problems(COLS, [t.mask("nope", t.hmac_sha256())], secrets={})) == 2


@pytest.mark.parametrize(
    ("fn", "ok"),
    [
        (t.hmac_sha256(), True),
        (t.tokenize(), True),
        (t.redact(), False),
        (t.keep_last(4), False),
        (t.keep_first(4), False),
        (t.null_out(), False),
        (t.email_keep_domain(), False),
    ],
)
def test_masking_a_key_needs_a_deterministic_mask(fn: MaskFunction, ok: bool) -> None:
    lines = problems({"id": "string", "v": "string"}, [t.mask("id", fn)])
    if ok:
        assert lines == []
    else:
        assert lines == [
            f"key column 'id' is masked by mask('id', {fn.describe()}), which merges distinct "
            "keys; mask a key only with hmac_sha256() or tokenize()"
        ]


def test_key_unsafe_follows_renames() -> None:
    lines = problems(
        {"id": "string", "v": "string"},
        [t.mask("id", t.keep_last(2)), t.rename(id="customer_id")],
        key=["customer_id"],
    )
    assert len(lines) == 1 and "key column 'customer_id' is masked" in lines[0]


def test_mask_of_unexpected_python_type_is_a_transform_error() -> None:
    top = compiled(COLS, [t.mask("v", t.keep_last(2))])
    with pytest.raises(TransformError) as info:
        top.process(event("c", after={"id": 1, "v": 123456789}))
    assert "123456789" not in str(info.value)
    assert info.value.field == "v"


def test_secret_env_var_names() -> None:
    assert secret_env_var("default") == "STREAMAPP_MASK_SECRET"
    assert secret_env_var("crm_v2") == "STREAMAPP_MASK_SECRET_CRM_V2"


@given(st.binary(max_size=200), st.binary(max_size=100))
def test_precomputed_hmac_equals_the_standard_one(key: bytes, message: bytes) -> None:
    assert hmac_sha256_hex(key)(message) == hmac.new(key, message, hashlib.sha256).hexdigest()


# Properties. Every mask but null_out returns text; for values without the mask character "*"
# (and of length >= 4) the output never equals or contains the clear value. Hash outputs are
# hex, so a short all-hex value could appear in one by chance; those use length >= 8.
TEXT = st.text(min_size=4, max_size=40).filter(lambda s: "*" not in s)
MASKERS = {
    "redact": _masker(t.redact()),
    "keep_first": _masker(t.keep_first(4)),
    "keep_last": _masker(t.keep_last(4)),
    "email": _masker(t.email_keep_domain()),
    "null_out": _masker(t.null_out()),
}
HASHERS = {"hmac": _masker(t.hmac_sha256()), "tokenize": _masker(t.tokenize())}


@pytest.mark.parametrize("name", sorted(MASKERS))
@given(value=TEXT)
def test_masked_never_equals_or_contains_clear_value(name: str, value: str) -> None:
    masked = MASKERS[name](value)
    assert masked != value
    assert masked is None or value not in masked


@pytest.mark.parametrize("name", sorted(HASHERS))
@given(value=st.text(min_size=8, max_size=40))
def test_hashed_never_equals_or_contains_clear_value(name: str, value: str) -> None:
    masked = HASHERS[name](value)
    assert masked != value and value not in masked


@given(st.text(max_size=30), st.text(max_size=30))
def test_keep_last_reveals_only_the_kept_part(a: str, b: str) -> None:
    """Two values of one length and one kept tail mask identically: nothing else leaks."""
    b = (b + "x" * len(a))[: len(a)]
    kept = min(4, len(a) // 2)
    other = b[: len(a) - kept] + a[len(a) - kept :]
    assert MASKERS["keep_last"](a) == MASKERS["keep_last"](other)


HMAC_AGAIN = _masker(t.hmac_sha256())
HMAC_PII = _masker(t.hmac_sha256("pii"))
HMAC_OTHER_DEFAULT = _masker(t.hmac_sha256(), {"default": b"another secret of 32 bytes......"})


@given(st.text(min_size=1, max_size=40))
def test_hmac_is_stable_per_secret_and_differs_across_secrets(value: str) -> None:
    assert HMAC_AGAIN(value) == HASHERS["hmac"](value)
    assert HASHERS["hmac"](value) != HMAC_PII(value)
    assert HMAC_OTHER_DEFAULT(value) != HASHERS["hmac"](value)


@given(st.text(max_size=40), st.text(max_size=40))
def test_tokenize_is_deterministic_and_distinct(a: str, b: str) -> None:
    tok = HASHERS["tokenize"]
    assert tok(a) == tok(a)
    assert (tok(a) == tok(b)) == (a == b)
    assert tok(a) != "tok_" + HASHERS["hmac"](a)[:32]
