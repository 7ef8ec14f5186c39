"""cffi builder for microgradc._core (out-of-line API mode).

The cdef is csrc/microgradc.h itself, less its preprocessor lines, so the
declarations Python sees and the ones C compiles against cannot drift apart.
Every csrc/*.c is compiled in. Set MICROGRADC_SANITIZE=1 to build the core with
AddressSanitizer and UndefinedBehaviorSanitizer (see .ci/run).
"""
import os
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent
CSRC = ROOT / "csrc"
HEADER = CSRC / "microgradc.h"


def cdef_text():
    """The public header with #include/#ifndef/#define lines dropped."""
    lines = HEADER.read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def compile_args():
    """Optimised, strict float64 (no fast-math); sanitized on request."""
    # no contraction into fused multiply-adds: sums must round as Python's do
    args = ["-std=c11", "-O2", "-fno-fast-math", "-ffp-contract=off", "-Wall", "-Wextra"]
    link = []
    if os.environ.get("MICROGRADC_SANITIZE") == "1":
        sanitize = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                    "-fno-omit-frame-pointer", "-g"]
        args = ["-std=c11", "-O1", "-ffp-contract=off", "-Wall", "-Wextra"] + sanitize
        link = sanitize
    return args, link


ffibuilder = FFI()
ffibuilder.cdef(cdef_text())
_args, _link = compile_args()
ffibuilder.set_source(
    "microgradc._core",
    '#include "microgradc.h"',
    # relative paths: setuptools refuses absolute source paths in a build
    sources=sorted(str(p.relative_to(ROOT)) for p in CSRC.glob("*.c")),
    include_dirs=[str(CSRC.relative_to(ROOT))],
    extra_compile_args=_args,
    extra_link_args=_link,
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
