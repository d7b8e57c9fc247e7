"""Redis key templates: injective rendering, an unreachable version namespace, unchanged keys."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.records import Op, OutputRecord
from streamapp.sinks.redis.keys import (
    ALWAYS_ESCAPED,
    VERSION_SUFFIX,
    KeyTemplate,
    KeyTemplateError,
    version_key,
)


@pytest.mark.parametrize(
    ("template", "texts", "key"),
    [
        ("acct:{tenant}:{user}", ("a:b", "c"), "acct:a%3Ab:c"),
        ("acct:{tenant}:{user}", ("a", "b:c"), "acct:a:b%3Ac"),
        ("o:{id}", ("x:__version",), "o:x%3A__version"),
        ("o:{id}", ("100%",), "o:100%25"),
        ("o:{id}", ("%3A",), "o:%253A"),
        ("{{orders:{id}}}", ("}{",), "{orders:%7D%7B}"),  # the hash tag stays the template's
        ("{a}/{b}", ("x/y", "z"), "x%2Fy/z"),  # a separator is escaped in the values
        ("{a}/{b}", ("x", "y/z"), "x/y%2Fz"),
        ("{a}→{b}", ("→", ""), "%E2%86%92→"),  # non-ASCII separator: its UTF-8 bytes
        ("{a}-{b}", ("a b é", "2024-01-01"), "a b é-2024%2D01%2D01"),
        ("o:{id}", ("",), "o:"),
    ],
)
def test_render_escapes_only_what_could_be_confused(
    template: str, texts: tuple[str, ...], key: str
) -> None:
    assert KeyTemplate.parse(template).render(texts) == key


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("o:{a}{b}", "touch"),
        ("o:{a}%{b}", "starts with '%'"),
        ("o", "names no column"),
        ("o:{}", "must name an output column"),
        ("o:{id!r}", "without format spec"),
        ("o:{id", "malformed"),
    ],
)
def test_templates_that_cannot_render_injectively_are_refused(template: str, message: str) -> None:
    with pytest.raises(KeyTemplateError, match=re.escape(message)):
        KeyTemplate.parse(template)


def test_a_trailing_or_leading_percent_literal_is_fine() -> None:
    assert KeyTemplate.parse("%{a}%").render(["%"]) == "%%25%"


# -- properties ----------------------------------------------------------------------------------

CHARS = st.sampled_from("ab:%{}/_-é→3A") | st.characters()
TEXT = st.text(CHARS, max_size=8)
SEP = st.text(st.sampled_from("ab:{}/_-é→%"), min_size=1, max_size=3).filter(
    lambda s: not s.startswith("%")
)


@st.composite
def templates(draw: st.DrawFn) -> KeyTemplate:
    """A valid template: 1-3 placeholders, separators between them, any prefix and suffix."""
    n = draw(st.integers(1, 3))
    prefix = draw(st.text(st.sampled_from("ab:{}%_"), max_size=3))
    suffix = draw(st.text(st.sampled_from("ab:{}%_"), max_size=3))
    raw = prefix.replace("{", "{{").replace("}", "}}")
    for i in range(n):
        if i:
            raw += draw(SEP).replace("{", "{{").replace("}", "}}")
        raw += f"{{c{i}}}"
    return KeyTemplate.parse(raw + suffix.replace("{", "{{").replace("}", "}}"))


def decode(template: KeyTemplate, key: str) -> tuple[str, ...]:
    """Read the value texts back out of a rendered key (a value ends at the first raw character
    of the separator after it; the last one where the suffix starts): so rendering is injective."""
    literals = template.literals
    assert key.startswith(literals[0])
    pos, out = len(literals[0]), []
    for i, literal in enumerate(literals[1:]):
        last, stop, raw = i == len(literals) - 2, len(key) - len(literal), bytearray()
        while (pos < stop) if last else key[pos] != literal[0]:
            if key[pos] == "%":
                raw += bytes.fromhex(key[pos + 1 : pos + 3])
                pos += 3
            else:
                raw += key[pos].encode("utf-8", "surrogatepass")
                pos += 1
        assert key.startswith(literal, pos)
        out.append(raw.decode("utf-8", "surrogatepass"))
        pos += len(literal)
    assert pos == len(key)
    return tuple(out)


@given(template=templates(), data=st.data())
def test_rendered_keys_decode_back_to_their_values(
    template: KeyTemplate, data: st.DataObject
) -> None:
    texts = data.draw(st.tuples(*[TEXT for _ in template.columns]))
    assert decode(template, template.render(texts)) == texts


@given(template=templates(), data=st.data())
def test_distinct_values_never_render_alike(template: KeyTemplate, data: st.DataObject) -> None:
    """Random pairs, and pairs built to collide under plain concatenation: the separator after
    a value moved into it, as ``("a:b", "c")`` against ``("a", "b:c")``."""
    n = len(template.columns)
    first = data.draw(st.tuples(*[TEXT for _ in range(n)]))
    pairs = [(first, data.draw(st.tuples(*[TEXT for _ in range(n)])))]
    for i in range(n - 1):
        sep, x, y = template.literals[i + 1], data.draw(TEXT), data.draw(TEXT)
        left = (*first[:i], first[i], x + sep + y, *first[i + 2 :])
        right = (*first[:i], first[i] + sep + x, y, *first[i + 2 :])
        pairs.append((left, right))
    for a, b in pairs:
        if a != b:
            assert template.render(a) != template.render(b)


@given(template=templates(), data=st.data())
def test_no_rendered_key_is_a_version_key(template: KeyTemplate, data: st.DataObject) -> None:
    n = len(template.columns)
    first = data.draw(st.tuples(*[TEXT for _ in range(n)]))
    second = data.draw(st.tuples(*[TEXT for _ in range(n)]))
    adversarial = (*first[:-1], first[-1] + VERSION_SUFFIX)
    regex = template.key_regex()
    for texts in (second, adversarial):
        key = template.render(texts)
        assert key != version_key(template.render(first))
        assert regex.fullmatch(key)
        assert not regex.fullmatch(version_key(key))


ORDINARY = st.text(
    st.characters(blacklist_characters=ALWAYS_ESCAPED + "/", blacklist_categories=["Cs"]),
    max_size=12,
)


@given(tenant=ORDINARY, user=ORDINARY, other=ORDINARY)
def test_ordinary_values_render_exactly_as_before(tenant: str, user: str, other: str) -> None:
    """Keys of values without special characters are the plain ``str.format`` of the template:
    deployments whose key values have none keep every key they already wrote."""
    for template, values in [
        ("acct:{tenant}:{user}", {"tenant": tenant, "user": user}),
        ("{{acct:{tenant}}}/{user}", {"tenant": tenant, "user": user}),
        ("order:{id}", {"id": other}),
        ("order:{id}:v1", {"id": other}),
    ]:
        parsed = KeyTemplate.parse(template)
        key = parsed.render([values[c] for c in parsed.columns])
        assert key == template.format(**values)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (42, "42"),
        (-7, "-7"),
        (True, "true"),
        ("alice", "alice"),
        ("a b/c.d_e-f", "a b/c.d_e-f"),
        (Decimal("1.50"), "1.50"),
        (date(2024, 1, 31), "2024-01-31"),
        (UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ],
)
def test_typical_key_values_render_as_before(value: object, text: str) -> None:
    record = OutputRecord("t", (value,), {"id": value}, 1, Op.UPDATE, False, frozenset(), None)
    assert KeyTemplate.parse("order:{id}").key_of(record, {"id": 0}) == f"order:{text}"
