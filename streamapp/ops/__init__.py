"""Operations tooling behind `topology show|test`, `replay`, `dlq` and `status`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from streamapp.errors import ConfigError, StreamappError

A = TypeVar("A")


class OpsError(StreamappError):
    """An operation cannot proceed; the message is one line: what, where, and what to do."""


def guarded(run: Callable[[A], int]) -> Callable[[A], int]:
    """Wrap a command's ``func``: a StreamappError (other than ConfigError, which the CLI
    reports itself) becomes ``error: <message>`` on stderr and exit code 1, not a traceback."""

    def call(args: A) -> int:
        try:
            return run(args)
        except ConfigError:
            raise
        except StreamappError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return call
