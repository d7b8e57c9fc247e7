"""Redis key templates: injective key rendering, version-key naming and the keys' SCAN pattern.

A template such as ``"acct:{tenant}:{user}"`` renders each value's text with a few characters
percent-encoded (``%`` as ``%25``, ``:`` as ``%3A``, ``{`` ``}`` and the first character of
any literal that follows a placeholder, as the ``%XX`` of their UTF-8 bytes), so:

- distinct value tuples never render alike: ``("a:b", "c")`` -> ``acct:a%3Ab:c`` and
  ``("a", "b:c")`` -> ``acct:a:b%3Ac``; the separator after a value never occurs in it raw;
- a rendered key never equals a version key ``K:__version`` of the same template: values carry
  no raw ``:``, so a version key has one ``:`` more than any key the template renders;
- values cannot move a Redis Cluster hash tag (``{...}``), so ``K`` and ``K:__version`` share
  a slot whenever the template's literals put them in one;
- a value without those characters renders exactly as its text (``order:{id}`` -> ``order:42``).

Two placeholders must be separated by a literal (``{a}{b}`` cannot be rendered injectively), and
that literal must not start with ``%`` (it would read as an escape). The sink writes and
``reconcile`` reads through the same ``KeyTemplate.key_of``, so the two never disagree.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from streamapp.records import OutputRecord
from streamapp.sinks.redis.types import scalar_text
from streamapp.sinks.values import Unfit

VERSION_SUFFIX: Final = ":__version"
ALWAYS_ESCAPED: Final = "%:{}"
_GLOB_SPECIAL: Final = re.compile(r"([*?\[\]\\])")


class KeyTemplateError(ValueError):
    """A key template that cannot be rendered injectively; the message says what to change."""


def version_key(key: str) -> str:
    """The companion key holding the version that last wrote ``key`` (or deleted it)."""
    return key + VERSION_SUFFIX


def escape_table(chars: str) -> dict[int, str]:
    """A ``str.translate`` table percent-encoding each of ``chars`` (UTF-8 bytes, upper hex)."""
    return {ord(c): "".join(f"%{b:02X}" for b in c.encode()) for c in chars}


@dataclass(frozen=True, slots=True)
class KeyTemplate:
    """A compiled key template: ``literals[0] v0 literals[1] v1 ... literals[-1]``.

    Build it with ``KeyTemplate.parse``; ``columns`` lists the placeholders in order (a column
    may repeat) and ``escaped`` the characters percent-encoded inside every value.
    """

    template: str
    literals: tuple[str, ...]
    columns: tuple[str, ...]
    escaped: str
    escapes: dict[int, str] = field(compare=False, repr=False)
    special: Callable[[str], object] = field(compare=False, repr=False)  # finds an escaped char

    @classmethod
    def parse(cls, template: str) -> KeyTemplate:
        """Compile ``template``; KeyTemplateError says what is wrong (no value is involved)."""
        literals, columns = [""], list[str]()
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise KeyTemplateError(f"the key template is malformed ({exc})") from None
        for literal, column, spec, conversion in parsed:
            literals[-1] += literal
            if column is None:
                continue
            if not column or spec or conversion:
                raise KeyTemplateError(
                    f"key template placeholder {{{column}}} must name an output column "
                    "without format spec or conversion"
                )
            columns.append(column)
            literals.append("")
        if not columns:
            raise KeyTemplateError("the key template names no column, e.g. 'orders:{id}'")
        for i, between in enumerate(literals[1:-1], start=1):
            a, b = columns[i - 1], columns[i]
            if not between:
                raise KeyTemplateError(
                    f"key template placeholders {{{a}}} and {{{b}}} touch, so their values "
                    f"could not be told apart; put a separator between them, e.g. '{{{a}}}:{{{b}}}'"
                )
            if between[0] == "%":
                raise KeyTemplateError(
                    f"the key template separator after {{{a}}} starts with '%', which reads "
                    "as an escape; start it with another character, e.g. ':'"
                )
        firsts = {lit[0] for lit in literals[1:] if lit}
        escaped = ALWAYS_ESCAPED + "".join(sorted(firsts - set(ALWAYS_ESCAPED)))
        search = re.compile(f"[{''.join(map(re.escape, escaped))}]").search
        return cls(
            template, tuple(literals), tuple(columns), escaped, escape_table(escaped), search
        )

    def render(self, texts: Sequence[str]) -> str:
        """The key for the value texts of ``columns`` (same order and length)."""
        special, table, literals = self.special, self.escapes, self.literals
        out = [literals[0]]
        for text, literal in zip(texts, literals[1:], strict=True):
            out += (text if special(text) is None else text.translate(table), literal)
        return "".join(out)

    def key_of(self, record: OutputRecord, key_pos: Mapping[str, int]) -> str:
        """The key of ``record`` (``key_pos``: key column -> position in ``record.key``).

        Unfit names the column (never the value) when a placeholder's value is missing, marked
        unchanged, or has no text form.
        """
        texts: list[str] = []
        for column in self.columns:
            pos = key_pos.get(column)
            v = record.key[pos] if pos is not None else record.value.get(column)
            if v is None or column in record.unchanged:
                raise Unfit(f"key template column {column!r} has no value in this record", column)
            try:
                texts.append(scalar_text(v))
            except (TypeError, ValueError):
                kind = type(v).__name__
                raise Unfit(
                    f"column {column!r} holds a {kind} value with no text form", column
                ) from None
        return self.render(texts)

    def scan_pattern(self) -> str:
        """A SCAN ``MATCH`` glob matching every key this template renders (and possibly more)."""
        return "".join(
            _GLOB_SPECIAL.sub(r"\\\1", lit) + ("*" if i < len(self.columns) else "")
            for i, lit in enumerate(self.literals)
        )

    def key_regex(self) -> re.Pattern[str]:
        """Fully matches every key this template renders, and never a version key."""
        raw = "".join(map(re.escape, sorted(self.escaped)))
        value = f"(?:[^{raw}]|%[0-9A-F]{{2}})*"
        return re.compile(value.join(map(re.escape, self.literals)))
