"""microgradc: micrograd's API and numbers, with the graph in C.

    from microgradc import Value      # or: from microgradc.engine import Value
"""
from .engine import Value

__all__ = ["Value"]
__version__ = "0.1.0"
