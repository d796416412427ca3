"""An OCI bundle to load, edit, validate and save from Python: the same
validator the runtime runs at create (the schema compiled from
spec/config-schema.json, then pyrunc's own checks), so an error here is
the error `create` would give, with the field's JSON path.
"""
from __future__ import annotations

import copy
import json
import os
import re
from typing import Any

from .client import InvalidConfig, Unsupported

__all__ = ["Bundle", "spec"]


def spec(rootless: bool = False) -> dict[str, Any]:
    """The default config.json (as `pyrunc spec` writes it), to edit."""
    from . import specgen
    d: dict[str, Any] = specgen.default(rootless)
    return d


# "process.args[0]", "linux.sysctl['net.ipv4.ip_forward']", 'annotations["a.b"]'
_STEP = re.compile(r"""\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[(["'])(.*?)\3\]""")


def _steps(path: str) -> list[str | int]:
    out: list[str | int] = []
    pos = 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"invalid JSON path {path!r} at {pos}")
        name, index, _, key = m.groups()
        out.append(name if name is not None else int(index) if index is not None else key)
        pos = m.end()
    return out


class Bundle:
    """A bundle directory: `config` is its config.json as a dict."""

    __slots__ = ("path", "config")

    def __init__(self, path: str, config: dict[str, Any] | None = None) -> None:
        self.path = os.path.abspath(path)
        self.config: dict[str, Any] = config if config is not None else spec()

    @classmethod
    def load(cls, path: str) -> "Bundle":
        """Read <path>/config.json (not validated: call validate())."""
        with open(os.path.join(path, "config.json"), "rb") as f:
            return cls(path, json.loads(f.read()))

    @classmethod
    def from_rootfs(cls, path: str, rootfs: str, args: list[str] | None = None,
                    rootless: bool = False) -> "Bundle":
        """A new bundle at `path` for an existing root filesystem: spec()'s
        defaults, root.path relative when the rootfs is inside the bundle,
        no terminal, `args` as the process. Saved, and validated."""
        os.makedirs(path, exist_ok=True)
        b = cls(path, spec(rootless))
        rel = os.path.relpath(os.path.abspath(rootfs), b.path)
        b.config["root"]["path"] = rel if not rel.startswith("..") else os.path.abspath(rootfs)
        b.config["process"]["terminal"] = False
        if args is not None:
            b.config["process"]["args"] = list(args)
        b.validate()
        b.save()
        return b

    @property
    def rootfs(self) -> str:
        return os.path.normpath(os.path.join(self.path, self.config["root"]["path"]))

    def get(self, path: str, default: Any = None) -> Any:
        """The value at a JSON path ("process.args[0]"), or `default`."""
        v: Any = self.config
        for s in _steps(path):
            try:
                v = v[s]
            except (KeyError, IndexError, TypeError):
                return default
        return v

    def set(self, path: str, value: Any) -> None:
        """Set the value at a JSON path, making the objects on the way
        ("linux.resources.pids.limit"); a list index must exist or be its end."""
        steps = _steps(path)
        v: Any = self.config
        for s, nxt in zip(steps, steps[1:]):
            if isinstance(s, str) and s not in v:
                v[s] = [] if isinstance(nxt, int) else {}
            v = v[s]
        last = steps[-1]
        if isinstance(last, int) and last == len(v):
            v.append(value)
        else:
            v[last] = value

    def validate(self) -> None:
        """Check config with the runtime's own validator: InvalidConfig
        (Unsupported for a setting this build cannot honour), `path` the
        field's JSON path, as `create` would fail."""
        from . import config
        from .errors import ConfigError, NotSupported, PyruncError
        doc = copy.deepcopy(self.config)
        config.drop_nulls(doc)
        try:
            config.validate(doc)
            config.Spec(doc, self.path)
        except NotSupported as e:
            raise Unsupported(str(e), error_class=e.error_class, path=e.path) from None
        except ConfigError as e:
            raise InvalidConfig(str(e), error_class=e.error_class, path=e.path) from None
        except PyruncError as e:
            raise InvalidConfig(str(e), error_class=e.error_class) from None

    def save(self) -> None:
        """Write config.json (atomically: a temporary file renamed)."""
        os.makedirs(self.path, exist_ok=True)
        dest = os.path.join(self.path, "config.json")
        tmp = f"{dest}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.config, f, indent="\t")
        os.replace(tmp, dest)

    def __repr__(self) -> str:
        return f"Bundle({self.path!r})"
