"""Transform stage: the topology API users write, its loader and validator, the transforms."""

from streamapp.transform.compile import CompiledTopology, compile_topology
from streamapp.transform.loader import load_topologies

__all__ = ["CompiledTopology", "compile_topology", "load_topologies"]
