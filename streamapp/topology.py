"""The one import a topology module needs: ``from streamapp.topology import Topology, ..., t``."""

from streamapp.records import UNCHANGED, ChangeEvent, Op
from streamapp.transform import t
from streamapp.transform.aggspec import Aggregate, agg
from streamapp.transform.spec import Output, Sink, Source, Topology

__all__ = [
    "UNCHANGED",
    "Aggregate",
    "ChangeEvent",
    "Op",
    "Output",
    "Sink",
    "Source",
    "Topology",
    "agg",
    "t",
]
