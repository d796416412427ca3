"""The runtime's error hierarchy.

Every failure a user can cause is one of these, so the CLI can print one clean
line (and one JSON log line) instead of a traceback.

Each error also carries a stable, machine-readable `error_class` (listed in
docs/ERRORS.md), the `errno` behind it when there is one, and for config
errors the JSON `path` of the field. `--log-format json` writes them as the
extra fields "class", "errno" and "path" beside runc's level/msg/time, so
engines need not match the message's wording.
"""

# The stable classes (docs/ERRORS.md). Names never change meaning; new
# ones may be added.
CLASSES = (
    "config.invalid", "config.unsupported", "container.not-found", "container.exists",
    "container.wrong-state", "container.failed", "process.exec-failed", "resource.cgroup",
    "resource.mount", "hook.failed", "permission", "usage", "internal",
)


import _thread

# The exception classes, made on first use (PEP 562 module __getattr__):
# creating a class costs ~0.1M instructions, and a short command that
# succeeds (state, kill, pause, ps) never raises one, so it need not pay for
# ten. `from pyrunc.errors import X`, `errors.X` and pickling all go through
# __getattr__; an `except errors.X:` clause looks X up only when an exception
# reaches it. All are made at once, under a lock, so every user sees the
# same class objects.
_NAMES = frozenset(("PyruncError", "ConfigError", "ContainerError", "NotExist",
                    "AlreadyExists", "WrongState", "InvalidArgument", "NotSupported",
                    "InitError", "Usage"))
_lock = _thread.allocate_lock()


def __getattr__(name):
    if name in _NAMES:
        with _lock:
            if "PyruncError" not in globals():
                _define()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _NAMES)


def _define():
    # (`global`: the classes bind as module attributes, and their
    # __qualname__ is the plain name, as if defined at the top level)
    global PyruncError, ConfigError, ContainerError, NotExist, AlreadyExists
    global WrongState, InvalidArgument, NotSupported, InitError, Usage

    class PyruncError(Exception):
        """Base of every error the CLI reports as a message, not a traceback.

        `error_class`/`errno` may be given per instance (keywords) to refine the
        subclass's default."""

        exit_code = 1
        error_class = "internal"
        errno = None
        path = None

        def __init__(self, *args, error_class=None, errno=None):
            super().__init__(*args)
            if error_class is not None:
                self.error_class = error_class
            if errno is not None:
                self.errno = errno

        def fields(self):
            """The machine-readable fields of a JSON log line."""
            out = {"class": self.error_class}
            if self.path:
                out["path"] = self.path
            if self.errno is not None:
                out["errno"] = self.errno
            return out

    class ConfigError(PyruncError):
        """config.json (or a process.json) is invalid.

        ``path`` is the JSON path of the offending field, e.g.
        ``linux.namespaces[2].type``; empty for the document itself. A setting
        that is valid but that the host refused (a mount, a cgroup write) keeps
        its path and says so by its class (resource.mount, resource.cgroup).
        """

        error_class = "config.invalid"

        def __init__(self, path, message, error_class=None, errno=None):
            self.path = path
            self.message = message
            super().__init__(f"{path}: {message}" if path else message,
                             error_class=error_class, errno=errno)

    class ContainerError(PyruncError):
        """A lifecycle operation is not possible (unknown id, wrong state...)."""

        error_class = "container.failed"

    class NotExist(ContainerError):
        error_class = "container.not-found"

        def __init__(self, cid=None):
            super().__init__("container does not exist")

    class AlreadyExists(ContainerError):
        error_class = "container.exists"

        def __init__(self, cid=None):
            super().__init__("container with given ID already exists")

    class WrongState(ContainerError):
        """The container is not in a state that allows the operation
        (start of a stopped one, pause of a created one, exec in a stopped one)."""

        error_class = "container.wrong-state"

    class InvalidArgument(ContainerError):
        """A command-line value is malformed (a signal, an id, a --user)."""

        error_class = "usage"

    class NotSupported(PyruncError):
        """A setting this host or this build cannot honour."""

        error_class = "config.unsupported"

        def __init__(self, path, message):
            self.path = path
            super().__init__(f"{path}: {message}" if path else message)

    class InitError(PyruncError):
        """The container's init failed while setting the container up.

        Raised in the parent from what the init reported over the channel
        (sync.error_from), with the class, errno and path the init's error had."""

        def __init__(self, message, error_class=None, errno=None, path=None):
            super().__init__(message, error_class=error_class, errno=errno)
            if path:
                self.path = path

    class Usage(PyruncError):
        """The command line is malformed (an unknown flag, a missing argument)."""

        error_class = "usage"


def oserror_class(e):
    """The class of an OSError nothing more specific caught. (EPERM 1,
    EACCES 13, the same on every Linux architecture, as numbers: an exec
    child reporting an error inside the container must not import errno.)"""
    return "permission" if e.errno in (1, 13) else "internal"


def oserror_fields(e):
    """PyruncError.fields() for an OSError nothing more specific caught."""
    out = {"class": oserror_class(e)}
    if e.errno is not None:
        out["errno"] = e.errno
    return out
