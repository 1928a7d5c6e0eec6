"""The district node's fixtures: a stand-in center, simulated boards, the node process."""

from tests.district_nodes.node_support import boards, center, node

__all__ = ["boards", "center", "node"]
