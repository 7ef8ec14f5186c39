"""microgradc: micrograd's API and numbers, with the graph in C.

    from microgradc import Value      # or: from microgradc.engine import Value
"""
from . import losses, nn, optim, viz
from .compile import compile
from .engine import Value
from .fused import dot

__all__ = ["Value", "compile", "dot", "losses", "nn", "optim", "viz"]
__version__ = "0.1.0"
