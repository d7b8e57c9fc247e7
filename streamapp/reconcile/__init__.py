"""`streamapp reconcile`: compare a topology's source table with what each of its sinks holds."""

from streamapp.reconcile.run import Options, Result, reconcile

__all__ = ["Options", "Result", "reconcile"]
