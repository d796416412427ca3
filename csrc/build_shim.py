"""cffi builder for pyrunc._shim (out-of-line API mode: a compiled
extension, so importing it costs about a millisecond instead of parsing
cdefs at every start)."""
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))

ffibuilder = FFI()
with open(os.path.join(HERE, "shim.h")) as f:
    ffibuilder.cdef("".join(
        line for line in f
        if not line.startswith("#") and "PYRUNC_SHIM_H" not in line))
ffibuilder.set_source(
    "pyrunc._shim",
    '#include "shim.h"',
    sources=[os.path.relpath(os.path.join(HERE, n)) for n in ("ns.c", "mount.c", "proc.c", "bpf.c")],
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=["-O2", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=False)
