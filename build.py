"""cffi builder for microgradc._core (out-of-line API mode).

setup.py names this file in cffi_modules, so pip runs it: `pip install -e .` builds
the core beside the sources, `pip install .` and `pip wheel .` into a wheel. The cdef
is csrc/microgradc.h itself, less its preprocessor lines, so the declarations Python
sees and the ones C compiles against cannot drift apart. Every csrc/*.c is compiled
in. Set MICROGRADC_SANITIZE=1 to build the core with AddressSanitizer and
UndefinedBehaviorSanitizer (see .ci/run).

Run on its own (`python build.py`, or `python -m build` in this directory, which finds
this file before PyPA's build) it builds nothing and says what to run instead: a core
compiled in place by cffi would be named for this Python version, and Python would
load it ahead of the one pip builds (microgradc refuses to import beside it).
"""
import os
import re
import sys
from pathlib import Path

WHAT_TO_RUN = """\
Nothing was built. In the repository root, run one of:
  pip install -e .                          the C core, built for development in this clone
  python -m pip wheel . --no-deps -w dist   a wheel, in dist/
  pyproject-build                           an sdist and a wheel, in dist/ (pip install build)
or, from any other directory:
  python -m build PATH-TO-THE-CLONE         an sdist and a wheel, in PATH-TO-THE-CLONE/dist/"""

if __name__ == "__main__":
    sys.exit(("python -m build ran microgradc's build.py, not PyPA's build: Python looks in\n"
              "the current directory first, and build.py is the cffi builder setup.py names.\n"
              if __spec__ else "build.py is the cffi builder that pip runs for setup.py.\n")
             + WHAT_TO_RUN)

from cffi import FFI  # after the check above, which needs no cffi to say what to run

ROOT = Path(__file__).resolve().parent
CSRC = ROOT / "csrc"
HEADER = CSRC / "microgradc.h"


def cdef_text():
    """The public header with #include/#ifndef/#define lines dropped."""
    lines = HEADER.read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def compile_args():
    """Optimised, strict float64 (no fast-math); sanitized on request."""
    # no contraction into fused multiply-adds: sums must round as Python's do. No errno
    # from libm (nothing reads it), which changes no result but lets sqrt vectorize
    args = ["-std=c11", "-O2", "-fno-fast-math", "-ffp-contract=off", "-fno-math-errno",
            "-Wall", "-Wextra", "-pthread"]
    link = ["-pthread"]  # the worker threads of a compiled step (csrc/pool.c)
    if os.environ.get("MICROGRADC_SANITIZE") == "1":
        sanitize = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                    "-fno-omit-frame-pointer", "-g"]
        args = ["-std=c11", "-O1", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wextra",
                "-pthread"] + sanitize
        link = sanitize + ["-pthread"]
    return args, link


# cffi's wrappers release the GIL around every call. For one scalar op that costs
# more than the op (about 100 ns of 250 here), so they keep it: the core's own lock
# still makes every call safe. The calls whose work grows with their input let other
# threads run while they work: each gets a stand-in that releases the GIL around it.
RELEASE_GIL = ("mgc_backward", "mgc_sweep_next", "mgc_release_many", "mgc_mlp",
               "mgc_tape_build", "mgc_tape_run", "mgc_zero_grad", "mgc_sgd_step",
               "mgc_adam_step")


def prototypes():
    """{name: (return type, parameter list)} of every function in the public header."""
    found = re.findall(r"([A-Za-z_][\w \*]*?)\s*\b(mgc_\w+)\(([^)]*)\);", cdef_text())
    return {name: (returns.strip(), " ".join(params.split())) for returns, name, params in found}


def wrapper_source():
    """The C that cffi's wrappers are compiled after: the header, the GIL kept by
    default, and a GIL-releasing stand-in for each function in RELEASE_GIL."""
    lines = ['#include "microgradc.h"',
             "#undef Py_BEGIN_ALLOW_THREADS", "#undef Py_END_ALLOW_THREADS",
             "#define Py_BEGIN_ALLOW_THREADS {", "#define Py_END_ALLOW_THREADS }"]
    declared = prototypes()
    for name in RELEASE_GIL:
        returns, params = declared[name]
        args = ", ".join(re.findall(r"(\w+)\s*(?:,|$)", params))
        call = f"{name}({args})"
        body = (f"{call};" if returns == "void" else f"{returns} r = {call};")
        done = "" if returns == "void" else " return r;"
        lines += [f"static {returns} {name}_without_gil({params}) {{",
                  f"    PyThreadState *s = PyEval_SaveThread(); {body} "
                  f"PyEval_RestoreThread(s);{done}", "}",
                  f"#define {name} {name}_without_gil"]
    return "\n".join(lines) + "\n"


ffibuilder = FFI()
ffibuilder.cdef(cdef_text())
_args, _link = compile_args()
ffibuilder.set_source(
    "microgradc._core",
    wrapper_source(),
    # relative paths: setuptools refuses absolute source paths in a build
    sources=sorted(str(p.relative_to(ROOT)) for p in CSRC.glob("*.c")),
    include_dirs=[str(CSRC.relative_to(ROOT))],
    extra_compile_args=_args,
    extra_link_args=_link,
    libraries=["m", "pthread"],
)
