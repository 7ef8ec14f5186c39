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


# cffi's wrappers release the GIL around every call. For one scalar op that costs
# more than the op (about 100 ns of 250 here), so they keep it: the core's own lock
# still makes every call safe. The calls whose work grows with their input let other
# threads run while they work: these wrappers release the GIL around them.
RELEASE_GIL = {
    "mgc_backward": ("int", "mgc_id root, mgc_sweep **paused", "root, paused"),
    "mgc_sweep_next": ("mgc_id", "mgc_sweep *sweep", "sweep"),
    "mgc_release_many": ("void", "const mgc_id *ids, size_t count", "ids, count"),
    "mgc_mlp": ("int", "const mgc_id *params, const uint32_t *sizes, const int *acts, "
                "size_t layers, const mgc_id *x, mgc_id *out",
                "params, sizes, acts, layers, x, out"),
    "mgc_tape_build": ("mgc_tape *", "const mgc_id *outputs, size_t output_count, "
                       "const mgc_id *inputs, size_t input_count",
                       "outputs, output_count, inputs, input_count"),
    "mgc_tape_run": ("void", "mgc_tape *tape, const double *inputs, double *outputs",
                     "tape, inputs, outputs"),
    "mgc_zero_grad": ("void", "const mgc_id *ids, size_t count", "ids, count"),
    "mgc_sgd_step": ("void", "const mgc_id *ids, size_t count, double lr, double momentum, "
                     "double weight_decay, double *velocity, uint64_t *steps",
                     "ids, count, lr, momentum, weight_decay, velocity, steps"),
    "mgc_adam_step": ("void", "const mgc_id *ids, size_t count, double lr, double beta1, "
                      "double beta2, double eps, double weight_decay, double *m, double *v, "
                      "uint64_t *steps",
                      "ids, count, lr, beta1, beta2, eps, weight_decay, m, v, steps"),
}


def wrapper_source():
    """The C that cffi's wrappers are compiled after: the header, the GIL kept by
    default, and a GIL-releasing stand-in for each function in RELEASE_GIL."""
    lines = ['#include "microgradc.h"',
             "#undef Py_BEGIN_ALLOW_THREADS", "#undef Py_END_ALLOW_THREADS",
             "#define Py_BEGIN_ALLOW_THREADS {", "#define Py_END_ALLOW_THREADS }"]
    for name, (returns, params, args) in RELEASE_GIL.items():
        call = f"{name}({args})"
        body = (f"PyThreadState *s = PyEval_SaveThread(); {call}; PyEval_RestoreThread(s);"
                if returns == "void" else
                f"PyThreadState *s = PyEval_SaveThread(); {returns} r = {call}; "
                f"PyEval_RestoreThread(s); return r;")
        lines += [f"static {returns} {name}_without_gil({params}) {{ {body} }}",
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
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
