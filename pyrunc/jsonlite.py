"""JSON without the json package.

`import json` pulls in `re` and `enum` (about 6 ms on the start path). The
C scanner and string encoder behind it live in `_json`, which imports
nothing, so parsing and writing go straight through them.
"""
import _json

from . import errors


class _Ctx:
    # The attributes _json.make_scanner reads from a json.JSONDecoder.
    __slots__ = ("strict", "object_hook", "object_pairs_hook", "parse_float",
                 "parse_int", "parse_constant", "memo")

    def __init__(self):
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = None
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = _bad_constant
        self.memo = {}


def _bad_constant(name):
    raise ValueError(f"invalid JSON constant {name}")


_scan = _json.make_scanner(_Ctx())
_WS = " \t\n\r"


def _skip(s, i):
    n = len(s)
    while i < n and s[i] in _WS:
        i += 1
    return i


def loads(s, what="JSON document"):
    """Parse one JSON document; errors.ConfigError with line:column on bad input."""
    if isinstance(s, (bytes, bytearray)):
        try:
            s = s.decode("utf-8")
        except UnicodeDecodeError as e:
            raise errors.ConfigError("", f"{what}: not UTF-8: {e}") from None
    try:
        obj, end = _scan(s, _skip(s, 0))
        end = _skip(s, end)
        if end == len(s):
            return obj
    except Exception:  # noqa: BLE001 - the precise message comes from json below
        pass
    # Error path only: the json package words the error precisely.
    import json
    try:
        return json.loads(s, parse_constant=_bad_constant)
    except json.JSONDecodeError as e:
        raise errors.ConfigError("", f"{what}: invalid JSON: {e.msg}: line {e.lineno} "
                                 f"column {e.colno}") from None
    except ValueError as e:
        raise errors.ConfigError("", f"{what}: invalid JSON: {e}") from None


_esc = _json.encode_basestring


def dumps(obj, indent=None):
    """Serialize dict/list/str/int/float/bool/None like json.dumps.

    indent=None gives the compact form Go's encoding/json writes
    (no spaces), which is what runc's clients and hooks get.
    """
    out = []
    _enc(obj, out, indent, 0)
    return "".join(out)


def _enc(o, out, indent, level):
    if isinstance(o, str):
        out.append(_esc(o))
    elif o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif isinstance(o, int):
        out.append(int.__repr__(o))
    elif isinstance(o, float):
        out.append(float.__repr__(o))
    elif isinstance(o, dict):
        if not o:
            out.append("{}")
            return
        nl, sep = _layout(indent, level)
        out.append("{")
        first = True
        for k, v in o.items():
            out.append(nl if first else "," + nl)
            first = False
            out.append(_esc(k))
            out.append(sep)
            _enc(v, out, indent, level + 1)
        out.append(_layout(indent, level - 1)[0] if indent else "")
        out.append("}")
    elif isinstance(o, (list, tuple)):
        if not o:
            out.append("[]")
            return
        nl, _ = _layout(indent, level)
        out.append("[")
        for i, v in enumerate(o):
            out.append(nl if i == 0 else "," + nl)
            _enc(v, out, indent, level + 1)
        out.append(_layout(indent, level - 1)[0] if indent else "")
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(o).__name__} as JSON")


def _layout(indent, level):
    if not indent:
        return "", ":"
    return "\n" + indent * (level + 1), ": "
