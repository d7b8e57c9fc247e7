"""`streamapp reconcile`: compare a topology's source table with what each of its sinks holds.

``Options``, ``Result`` and ``reconcile`` load ``reconcile.run`` on first use, so a sink
package's reader can import ``reconcile.layout`` without importing every sink's reader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamapp.reconcile.run import Options, Result, reconcile

__all__ = ["Options", "Result", "reconcile"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from streamapp.reconcile import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
