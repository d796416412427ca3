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
