"""The runtime's error hierarchy.

Every failure a user can cause is one of these, so the CLI can print one clean
line (and one JSON log line) instead of a traceback.
"""


class PyruncError(Exception):
    """Base of every error the CLI reports as a message, not a traceback."""

    exit_code = 1


class ConfigError(PyruncError):
    """config.json (or a process.json) is invalid.

    ``path`` is the JSON path of the offending field, e.g.
    ``linux.namespaces[2].type``; empty for the document itself.
    """

    def __init__(self, path, message):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class ContainerError(PyruncError):
    """A lifecycle operation is not possible (unknown id, wrong state...)."""


class NotExist(ContainerError):
    def __init__(self, cid=None):
        super().__init__("container does not exist")


class AlreadyExists(ContainerError):
    def __init__(self, cid=None):
        super().__init__("container with given ID already exists")


class NotSupported(PyruncError):
    """A setting this host or this build cannot honour."""

    def __init__(self, path, message):
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class InitError(PyruncError):
    """The container's init failed while setting the container up."""
