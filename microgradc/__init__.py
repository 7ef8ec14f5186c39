"""microgradc: micrograd's API and numbers, with the graph in C.

    from microgradc import Value      # or: from microgradc.engine import Value
"""
import os
from importlib.machinery import EXTENSION_SUFFIXES


def _one_core_build():
    """Raise ImportError unless exactly one build of the C core (_core) that this Python
    can load sits in this package: none means it was never built here; two means one
    shadows the other (Python loads a version-named _core.cpython-*.so, such as cffi
    compiles in place, ahead of pip's _core.abi3.so), so C edits would silently vanish."""
    here = os.path.dirname(os.path.abspath(__file__))
    builds = [name for name in ('_core' + suffix for suffix in EXTENSION_SUFFIXES)
              if os.path.exists(os.path.join(here, name))]
    if not builds:
        raise ImportError(
            f"microgradc: its C core is not built in {here}. In a clone of microgradc, "
            f"`pip install -e .` builds it; if microgradc is installed and Python is running "
            f"in the clone, it found the clone's microgradc/ first: run it elsewhere")
    if len(builds) > 1:
        raise ImportError(
            f"microgradc: {len(builds)} builds of its C core in {here}: {', '.join(builds)}. "
            f"Python would load {builds[0]}, which may be stale (an in-place build, such as "
            f"`python build.py` once made). Delete all of them, then build the core again: "
            f"`pip install -e .` in a clone, else reinstall microgradc")


_one_core_build()

# after the check: these load the core
from . import losses, nn, optim, viz
from .compile import TracerWarning, compile
from .engine import Value
from .fused import Linear, dot, embedding, logsumexp, select, softmax

__all__ = ["Linear", "TracerWarning", "Value", "compile", "dot", "embedding", "logsumexp",
           "losses", "nn", "optim", "select", "softmax", "viz"]
__version__ = "0.1.0"
