"""`org.systemd.property.<Name>` annotations: extra properties of the
container's unit, as runc's specconv reads them (initSystemdProps). The
name is letters only (3 at least); the value is GVariant text, of which
this reads the part engines use: true/false, numbers (int32 unless typed:
"uint64 20", "@t 20"; a dot makes a double), 'strings' or "strings", and
[lists] of those. A name ending in a lowercase letter and "Sec" becomes
"...USec", its number multiplied by a million (TimeoutStopSec=5 is
TimeoutStopUSec=5000000), as runc does.
"""
from ..errors import ConfigError

PREFIX = "org.systemd.property."
_TYPES = {"boolean": "b", "byte": "y", "int16": "n", "uint16": "q", "int32": "i",
          "uint32": "u", "int64": "x", "uint64": "t", "double": "d", "string": "s",
          "objectpath": "o", "signature": "g"}
_RANGES = {"y": (0, 255), "n": (-(1 << 15), (1 << 15) - 1), "q": (0, (1 << 16) - 1),
           "i": (-(1 << 31), (1 << 31) - 1), "u": (0, (1 << 32) - 1),
           "x": (-(1 << 63), (1 << 63) - 1), "t": (0, (1 << 64) - 1)}


def props(annotations):
    """The (name, (signature, value)) properties the annotations ask for."""
    out = []
    for key in sorted(annotations or {}):
        if not key.startswith(PREFIX):
            continue
        field = f"annotations[{key!r}]"
        name = key[len(PREFIX):]
        if len(name) < 3 or not (name.isascii() and name.isalpha()):
            raise ConfigError(field, f"annotation {key} name incorrect: a systemd property "
                                     "name is 3 or more latin letters")
        try:
            sig, value = _Parser(str(annotations[key])).variant()
        except ValueError as e:
            raise ConfigError(field, f"annotation {key}={annotations[key]} value parse "
                                     f"error: {e}") from None
        if name.endswith("Sec") and len(name) > 3 and name[-4].islower():
            if sig not in _RANGES and sig != "d":
                raise ConfigError(field, f"annotation {key}={annotations[key]} value parse "
                                         "error: not a number")
            name, sig, value = name[:-3] + "USec", "t", int(value * 1000000)
        out.append((name, (sig, value)))
    return out


class _Parser:
    """GVariant text, the subset the module docstring lists."""

    __slots__ = ("s", "i")

    def __init__(self, text):
        self.s, self.i = text, 0

    def variant(self):
        sig, value = self.value(None)
        self._space()
        if self.i != len(self.s):
            raise ValueError(f"unexpected {self.s[self.i:]!r}")
        return sig, value

    def value(self, want):
        self._space()
        if self.s.startswith("@", self.i):
            end = self._word_end(self.i + 1)
            want = self.s[self.i + 1:end]
            self.i = end
            self._space()
        else:
            end = self._word_end(self.i)
            word = self.s[self.i:end]
            if word in _TYPES:
                want = _TYPES[word]
                self.i = end
                self._space()
        if self.i >= len(self.s):
            raise ValueError("a value is missing")
        ch = self.s[self.i]
        if ch == "[":
            return self._array(want)
        if ch in "'\"":
            return self._string(want)
        end = self._word_end(self.i)
        word = self.s[self.i:end]
        self.i = end
        if word in ("true", "false"):
            if want not in (None, "b"):
                raise ValueError(f"{word} is not of type {want}")
            return "b", word == "true"
        return self._number(word, want)

    def _number(self, word, want):
        try:
            if want == "d" or (want is None and any(c in word for c in ".eE")):
                return "d", float(word)
            n = int(word, 0)
        except ValueError:
            raise ValueError(f"invalid value {word!r}") from None
        sig = want or "i"
        if sig not in _RANGES:
            raise ValueError(f"{word} is not of type {sig}")
        lo, hi = _RANGES[sig]
        if not lo <= n <= hi:
            raise ValueError(f"{word} out of range for type {sig}")
        return sig, n

    def _string(self, want):
        if want not in (None, "s", "o", "g"):
            raise ValueError(f"a string is not of type {want}")
        quote, out = self.s[self.i], []
        self.i += 1
        while self.i < len(self.s) and self.s[self.i] != quote:
            if self.s[self.i] == "\\" and self.i + 1 < len(self.s):
                self.i += 1
            out.append(self.s[self.i])
            self.i += 1
        if self.i >= len(self.s):
            raise ValueError("unterminated string")
        self.i += 1
        return want or "s", "".join(out)

    def _array(self, want):
        if want is not None and not want.startswith("a"):
            raise ValueError(f"an array is not of type {want}")
        elem = want[1:] if want else None
        self.i += 1
        items = []
        self._space()
        while not self.s.startswith("]", self.i):
            if items:
                if not self.s.startswith(",", self.i):
                    raise ValueError("expected ',' or ']' in an array")
                self.i += 1
            sig, v = self.value(elem)
            if elem is not None and sig != elem:
                raise ValueError(f"array elements of types {elem} and {sig}")
            elem = sig
            items.append(v)
            self._space()
        self.i += 1
        if elem is None:
            raise ValueError("an empty array needs a type: @as []")
        return "a" + elem, items

    def _space(self):
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def _word_end(self, i):
        while i < len(self.s) and not self.s[i].isspace() and self.s[i] not in ",[]'\"":
            i += 1
        return i
