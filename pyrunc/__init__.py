"""pyrunc: an OCI container runtime.

`import pyrunc` also gives the Python API (docs/API.md): Runtime, Bundle,
spec() and the typed results and exceptions. They are imported on first
use (module __getattr__), so the command line, which imports this package,
never pays for them.
"""

__version__ = "0.1.0"
OCI_VERSION = "1.3.0"  # the runtime-spec release implemented (runc HEAD vendors 1.3.0 too)

# For type checkers only (never true when run: `typing` is not imported,
# the CLI's start path stays as it was): the API's names, typed.
TYPE_CHECKING = False
if TYPE_CHECKING:  # ("X as X": re-exported, for mypy --strict)
    from .bundle import Bundle as Bundle, spec as spec  # noqa: F401
    from .client import (  # noqa: F401
        ConsoleSocket as ConsoleSocket, ContainerExists as ContainerExists,
        ContainerNotFound as ContainerNotFound, Event as Event, ExecFailed as ExecFailed,
        InvalidConfig as InvalidConfig, NotRunning as NotRunning, PidfdSocket as PidfdSocket,
        Runtime as Runtime, RuntimeFailed as RuntimeFailed, RuntimeTimeout as RuntimeTimeout,
        State as State, Stats as Stats, Unsupported as Unsupported)

# name -> the submodule defining it
_API = dict.fromkeys(("Runtime", "State", "Stats", "Event", "ConsoleSocket", "PidfdSocket",
                      "RuntimeFailed", "RuntimeTimeout", "ContainerNotFound", "ContainerExists",
                      "InvalidConfig", "Unsupported", "NotRunning", "ExecFailed"), "client")
_API.update(Bundle="bundle", spec="bundle")
__all__ = ["__version__", "OCI_VERSION"] + sorted(_API)


def __getattr__(name):
    mod = _API.get(name)
    if mod is None:
        raise AttributeError(f"module 'pyrunc' has no attribute {name!r}")
    import importlib
    return getattr(importlib.import_module(f"{__name__}.{mod}"), name)


def __dir__():
    return sorted(set(globals()) | set(_API))


# -- a shorter way to pyrunc's own modules ----------------------------------
# importlib's path finder costs ~0.25M instructions a module (directory
# listing cache, five suffixes tried, the source stat'ed twice, the .pyc
# read through io): with ~40 modules on create's path that is ~10M, more
# than the command's own work. This finder goes straight to the .pyc that
# pip compiled beside each module, checks it as importlib does (magic
# number, the source's mtime and size), and hands anything else -- no .pyc,
# a stale or hash-based one, an extension module -- back to importlib.
# It never loads what importlib would not (tests/test_attacks_perf.py):
# not installed under -O or a pycache_prefix (importlib reads another
# .pyc then); the code gets the path it was loaded from, as importlib
# gives it; the package's extension modules are left to importlib, which
# takes them before a .py of the same name. (Named here, not looked for:
# a listing or stats a module cost ~0.4M instructions of a `run`;
# test_packaging checks the names against the built package, and that no
# module there is both a package and a .py.)
_EXTENSIONS = frozenset(("_shim", "_seccomp"))


def _install_finder():
    import posix
    import sys
    from _frozen_importlib import ModuleSpec
    from _frozen_importlib_external import MAGIC_NUMBER, SourceFileLoader
    from _imp import _fix_co_filename
    from marshal import loads
    tag = sys.implementation.cache_tag
    if tag is None or sys.flags.optimize or sys.pycache_prefix is not None:
        return

    class _Loader(SourceFileLoader):
        """importlib's loader, given the checked .pyc's code."""

        def __init__(self, name, path, data):
            super().__init__(name, path)
            self._data = data

        def get_code(self, fullname):
            data, self._data = self._data, None
            if data is None or fullname != self.name:
                return super().get_code(fullname)
            code = loads(memoryview(data)[16:])
            _fix_co_filename(code, self.path)  # as importlib: the path it came from
            return code

    def _read(path):
        try:
            fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
        except OSError:
            return None
        try:
            chunks = []
            while True:
                b = posix.read(fd, 1 << 17)
                if not b:
                    return b"".join(chunks)
                chunks.append(b)
        finally:
            posix.close(fd)

    class _Finder:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if not name.startswith("pyrunc.") or not path or len(path) != 1:
                return None
            d, leaf = path[0], name.rpartition(".")[2]
            if leaf in _EXTENSIONS:
                return None  # importlib takes leaf.<suffix> before any leaf.py
            base = d + "/" + leaf
            try:
                st = posix.stat(base + ".py")
                pkg = None
            except OSError:
                try:
                    st = posix.stat(base + "/__init__.py")
                except OSError:
                    return None  # a namespace package...
                pkg, d, leaf = [base], base, "__init__"
            src = d + "/" + leaf + ".py"
            pyc = d + "/__pycache__/" + leaf + "." + tag + ".pyc"
            data = _read(pyc)
            if (data is None or len(data) < 16 or data[:4] != MAGIC_NUMBER
                    or data[4:8] != b"\0\0\0\0"
                    or int.from_bytes(data[8:12], "little") != int(st.st_mtime) & 0xFFFFFFFF
                    or int.from_bytes(data[12:16], "little") != st.st_size & 0xFFFFFFFF):
                return None  # importlib compiles (and writes) it
            spec = ModuleSpec(name, _Loader(name, src, data), origin=src,
                              is_package=pkg is not None)
            if pkg is not None:
                spec.submodule_search_locations = pkg
            spec.cached = pyc
            spec.has_location = True
            return spec

    sys.meta_path.insert(0, _Finder)


_install_finder()
