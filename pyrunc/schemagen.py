"""Compile pyrunc's JSON Schemas (spec/*.json) into plain Python validators.

A build-time tool, in the manner of fastjsonschema but small and tailored:
``generate(schema_path)`` returns the source of a module whose
``validate(doc)`` checks ``doc`` against the schema and raises
``pyrunc.errors.ConfigError(path, message)`` on the first violation, with
``path`` a JSON path such as ``linux.namespaces[2].type`` ("" for the
document itself). The generated module imports nothing but pyrunc.errors
(``re`` only lazily, and only if the schema has a non-prefix ``pattern``),
so checking config.json costs no imports on the container start path.

setup.py writes pyrunc/_configcheck.py and pyrunc/_statecheck.py with it;
``load_validator(name)`` compiles one in memory for a source tree that has
not been built. CLI::

    python -m pyrunc.schemagen spec/config-schema.json pyrunc/_configcheck.py

Supported keywords (anything else is refused at generation time rather
than silently skipped): type (one or a list), enum, const, $ref (local
"#/$defs/..." or "#/definitions/..."), allOf, anyOf, oneOf, if/then/else,
minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength,
pattern, items, minItems, maxItems, properties, required,
additionalProperties, propertyNames, dependentRequired, and boolean
schemas. Annotations ($schema, $id, $comment, title, description, default,
examples, deprecated, $defs, definitions) are ignored.

Deliberate difference from JSON Schema: "integer" means a JSON number
written without fraction or exponent (a Python int, never a bool). JSON
Schema also calls 1.0 an integer; Go's encoding/json, and so runc, refuse
it, and the runtime wants real ints.
"""
import os
import sys

__all__ = ["generate", "write", "load_validator", "SchemaError", "main"]


class SchemaError(Exception):
    """The schema uses something this compiler does not handle."""


_ANNOTATIONS = frozenset((
    "$schema", "$id", "$comment", "title", "description", "default",
    "examples", "deprecated", "readOnly", "writeOnly", "$defs", "definitions",
))
_KEYWORDS = frozenset((
    "type", "enum", "const", "$ref", "allOf", "anyOf", "oneOf",
    "if", "then", "else",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "minLength", "maxLength", "pattern",
    "items", "minItems", "maxItems",
    "properties", "required", "additionalProperties", "propertyNames",
    "dependentRequired",
))

# JSON type name -> (test that the value has it, the Python expression
# template; "{x}" is the variable)
_TYPE_TEST = {
    "object": "isinstance({x}, dict)",
    "array": "isinstance({x}, list)",
    "string": "isinstance({x}, str)",
    # exact classes: what a JSON decoder makes, and bool (an int subclass) is out
    "integer": "{x}.__class__ is int",
    "number": "({x}.__class__ is int or {x}.__class__ is float)",
    "boolean": "({x} is True or {x} is False)",
    "null": "{x} is None",
}
# Keywords that only look at one kind of value, and the JSON types of it.
_STRING_KW = ("minLength", "maxLength", "pattern")
_NUMBER_KW = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_ARRAY_KW = ("items", "minItems", "maxItems")
_OBJECT_KW = ("required", "properties", "additionalProperties",
              "propertyNames", "dependentRequired")
_KIND_TYPES = {
    "string": frozenset(("string",)),
    "number": frozenset(("integer", "number")),
    "array": frozenset(("array",)),
    "object": frozenset(("object",)),
}
_REGEX_META = set(".^$*+?()[]{}|\\")

# Helpers copied verbatim into every generated module.
_RUNTIME = r'''
_M = object()


def _path(c):
    keys = []
    while c is not None:
        c, k = c
        keys.append(k)
    s = ""
    for k in reversed(keys):
        if k.__class__ is int:
            s += "[%d]" % k
        elif k and k.replace("_", "").replace("-", "").isalnum():
            s = s + "." + k if s else k
        else:
            s += '["' + k.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return s


def _show(x):
    if x is None:
        return "null"
    if x is True:
        return "true"
    if x is False:
        return "false"
    if isinstance(x, str):
        return repr(x) if len(x) <= 60 else repr(x[:57]) + "..."
    if isinstance(x, dict):
        return "an object"
    if isinstance(x, list):
        return "an array"
    return repr(x)


def _fail(p, msg):
    raise ConfigError(_path(p), msg)
'''

_RUNTIME_MATCH = r'''

def _match(x, p, branches, one):
    errors = []
    ok = 0
    for b in branches:
        try:
            b(x, p)
        except ConfigError as e:
            errors.append(e)
        else:
            if not one:
                return
            ok += 1
    if ok == 1:
        return
    if ok > 1:
        _fail(p, "matches more than one of the allowed forms")
    here = _path(p)
    deeper = [e for e in errors if len(e.path) > len(here)]
    if len(deeper) == 1:
        raise deeper[0]
    _fail(p, "does not match any allowed form ("
          + "; ".join((e.path[len(here):].lstrip(".") + ": " if e.path != here else "")
                      + e.message for e in errors) + ")")
'''

_RUNTIME_RE = r'''

_rx = {}


def _search(pattern, s):
    r = _rx.get(pattern)
    if r is None:
        import re
        r = _rx[pattern] = re.compile(pattern)
    return r.search(s) is not None
'''


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _fmt_value(v):
    """An enum/const value as shown in a message."""
    if isinstance(v, str):
        if v and v.strip() == v and "," not in v and " " not in v:
            return v
        return '"' + v.replace('"', '\\"') + '"'
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    return repr(v)


_INLINE_WEIGHT = 3  # $ref targets this small are inlined, bigger ones become functions


def _weight(schema):
    """How many schemas (counting $refs as big) a schema is made of."""
    if not isinstance(schema, dict):
        return 1
    if "$ref" in schema:
        return 1 + _INLINE_WEIGHT
    n = 1
    for k, v in schema.items():
        if k in _ANNOTATIONS or k in ("enum", "const", "required", "dependentRequired"):
            continue
        if isinstance(v, dict) and k in ("properties",):
            n += sum(_weight(sub) for sub in v.values())
        elif isinstance(v, dict):
            n += _weight(v)
        elif isinstance(v, list):
            n += sum(_weight(sub) for sub in v if isinstance(sub, (dict, bool)))
    return n


def _literal_prefix(pattern):
    """"^abc\\." -> "abc.": the literal a pattern anchors at the start, or None."""
    if not pattern.startswith("^"):
        return None
    out = []
    i, n = 1, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 < n and pattern[i + 1] in _REGEX_META | set("/-"):
                out.append(pattern[i + 1])
                i += 2
                continue
            return None
        if c in _REGEX_META:
            return None
        out.append(c)
        i += 1
    return "".join(out)


class _Writer:
    def __init__(self):
        self.lines = []

    def __call__(self, ind, text):
        self.lines.append("    " * ind + text)


class _Compiler:
    def __init__(self, root):
        self.root = root
        self.consts = {}        # source of a constant -> its name
        self.const_lines = []
        self.functions = []     # finished function sources, in order
        self.ref_funcs = {}     # "$ref" -> function name
        self.inlining = []      # $refs being inlined (recursion guard)
        self.n = 0
        self.need_match = False
        self.need_re = False

    # -- helpers ---------------------------------------------------------
    def fresh(self, stem):
        self.n += 1
        return f"{stem}{self.n}"

    def const(self, source, stem="_C"):
        name = self.consts.get(source)
        if name is None:
            name = f"{stem}{len(self.consts)}"
            self.consts[source] = name
            self.const_lines.append(f"{name} = {source}")
        return name

    def resolve(self, ref):
        if not ref.startswith("#/"):
            raise SchemaError(f"only local $ref is supported, got {ref!r}")
        node = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise SchemaError(f"$ref {ref!r} does not resolve")
            node = node[part]
        return node

    def function(self, name, schema, where):
        w = _Writer()
        w(0, f"def {name}(x, p):")
        before = len(w.lines)
        self.emit(w, 1, schema, "x", "p", where)
        if len(w.lines) == before:
            w(1, "pass")
        self.functions.append("\n".join(w.lines))
        return name

    @staticmethod
    def raise_(w, ind, p, msg_expr):
        w(ind, f"_fail({p}, {msg_expr})")

    # -- the compiler ----------------------------------------------------
    def emit(self, w, ind, s, x, p, where, pre="", assume=None):
        """Write statements that check variable `x` (path expression `p`).

        `assume`: the JSON types `x` is already known to have, if any.
        """
        if s is True:
            return
        if s is False:
            self.raise_(w, ind, p, repr(pre + "is not allowed"))
            return
        if not isinstance(s, dict):
            raise SchemaError(f"{where}: a schema must be an object or a boolean")
        unknown = set(s) - _KEYWORDS - _ANNOTATIONS
        if unknown:
            raise SchemaError(f"{where}: unsupported keyword(s) {', '.join(sorted(unknown))}")

        types = s.get("type")
        if isinstance(types, str):
            types = [types]
        known = assume
        if types is not None:
            for t in types:
                if t not in _TYPE_TEST:
                    raise SchemaError(f"{where}: unknown type {t!r}")
            known = frozenset(types) if known is None else known & frozenset(types)
            expected = self.describe(s, types)
            cond = " or ".join(_TYPE_TEST[t].format(x=x) for t in types)
            cond = f"not {cond}" if len(types) == 1 else f"not ({cond})"
            # Fold the checks the message already states into the type test:
            # ranges of a lone numeric type, minLength 1 of a lone string.
            if known <= _KIND_TYPES["number"] and not any(k in s for k in _NUMBER_KW[2:]):
                for kw, op in (("minimum", "<"), ("maximum", ">")):
                    if kw in s:
                        cond += f" or {x} {op} {self.number(s, kw, where)!r}"
                s = {k: v for k, v in s.items() if k not in ("minimum", "maximum")}
            elif known == _KIND_TYPES["string"] and "maxLength" not in s:
                prefix = _literal_prefix(s["pattern"]) if "pattern" in s else None
                if s.get("minLength") == 1 and "pattern" not in s:
                    cond += f" or not {x}"
                    s = {k: v for k, v in s.items() if k != "minLength"}
                elif prefix is not None and "minLength" not in s:
                    cond += f" or not {x}.startswith({prefix!r})"
                    s = {k: v for k, v in s.items() if k != "pattern"}
            w(ind, f"if {cond}:")
            self.raise_(w, ind + 1, p, f"{pre + 'expected ' + expected + ', got '!r} + _show({x})")

        if "enum" in s:
            self.emit_enum(w, ind, s["enum"], x, p, known, pre, where)
        if "const" in s:
            self.emit_enum(w, ind, [s["const"]], x, p, known, pre, where, const=True)

        if "$ref" in s:
            self.emit_ref(w, ind, s["$ref"], x, p, where, pre, known)

        self.emit_kind(w, ind, s, x, p, where, known, "number", _NUMBER_KW, self.emit_number, pre)
        self.emit_kind(w, ind, s, x, p, where, known, "string", _STRING_KW, self.emit_string, pre)
        self.emit_kind(w, ind, s, x, p, where, known, "array", _ARRAY_KW, self.emit_array, pre)
        self.emit_kind(w, ind, s, x, p, where, known, "object", _OBJECT_KW, self.emit_object, pre)

        # combinators last: a plain fault in a property is reported as such
        for i, sub in enumerate(s.get("allOf", ())):
            self.emit(w, ind, sub, x, p, f"{where}/allOf/{i}", pre, known)
        for kw in ("anyOf", "oneOf"):
            if kw in s:
                self.emit_match(w, ind, s[kw], x, p, f"{where}/{kw}", kw == "oneOf", known)
        if "if" in s:
            self.emit_if(w, ind, s, x, p, where, known)
        elif "then" in s or "else" in s:
            pass  # without "if", then/else have no effect

    def describe(self, s, types):
        """What a value must be, for messages: "integer in 0..255"."""
        parts = []
        for t in types:
            if t in ("integer", "number"):
                lo, hi = s.get("minimum"), s.get("maximum")
                xlo, xhi = s.get("exclusiveMinimum"), s.get("exclusiveMaximum")
                if lo is not None and hi is not None and xlo is None and xhi is None:
                    t = f"{t} in {lo}..{hi}"
                else:
                    bounds = []
                    if lo is not None:
                        bounds.append(f">= {lo}")
                    if xlo is not None:
                        bounds.append(f"> {xlo}")
                    if hi is not None:
                        bounds.append(f"<= {hi}")
                    if xhi is not None:
                        bounds.append(f"< {xhi}")
                    if bounds:
                        t = f"{t} {' and '.join(bounds)}"
            elif t == "string":
                lo = s.get("minLength")
                if lo == 1 and "maxLength" not in s:
                    t = "a non-empty string"
                elif "pattern" in s:
                    prefix = _literal_prefix(s["pattern"])
                    t = (f"a string starting with {prefix!r}" if prefix is not None
                         else f"a string matching /{s['pattern']}/")
            parts.append(t)
        return " or ".join(parts)

    def emit_enum(self, w, ind, values, x, p, known, pre, where, const=False):
        if not isinstance(values, list) or not values:
            raise SchemaError(f"{where}: enum must be a non-empty array")
        shown = ", ".join(_fmt_value(v) for v in values)
        msg = (f"expected {shown}, got " if const and len(values) == 1
               else f"expected one of {shown}, got ")
        if all(isinstance(v, str) for v in values):
            if len(values) == 1:
                test = f"{x} == {values[0]!r}"
            else:
                test = f"{x} in {self.const('frozenset(' + repr(tuple(values)) + ')', '_E')}"
            if known != frozenset(("string",)):
                test = f"isinstance({x}, str) and {test}"
        elif all(v is None or isinstance(v, (bool, str)) or _is_int(v) for v in values):
            # compare type and value: JSON 1 is not true, and 1 == True in Python
            tests = []
            for v in values:
                if v is None or isinstance(v, bool):
                    tests.append(f"{x} is {v!r}")
                elif isinstance(v, str):
                    tests.append(f"{x} == {v!r}")
                else:
                    tests.append(f"({x}.__class__ is int and {x} == {v!r})")
            test = " or ".join(tests)
        else:
            raise SchemaError(f"{where}: enum/const values must be strings, integers, "
                              "booleans or null")
        w(ind, f"if not ({test}):")
        self.raise_(w, ind + 1, p, f"{pre + msg!r} + _show({x})")

    def emit_ref(self, w, ind, ref, x, p, where, pre, known):
        target = self.resolve(ref)
        if _weight(target) <= _INLINE_WEIGHT and ref not in self.inlining:
            self.inlining.append(ref)
            try:
                self.emit(w, ind, target, x, p, ref, pre, known)
            finally:
                self.inlining.pop()
            return
        name = self.ref_funcs.get(ref)
        if name is None:
            stem = "".join(c if c.isalnum() else "_" for c in ref.rsplit("/", 1)[-1])
            name = self.ref_funcs[ref] = f"_d_{stem}_{len(self.ref_funcs)}"
            self.function(name, target, ref)
        w(ind, f"{name}({x}, {p})")

    def branch(self, schema, where):
        return self.function(self.fresh("_b"), schema, where)

    def emit_match(self, w, ind, branches, x, p, where, one, known):
        if not isinstance(branches, list) or not branches:
            raise SchemaError(f"{where}: must be a non-empty array")
        # "at least one of these properties": a plain membership test
        if (not one and all(isinstance(b, dict) and set(b) == {"required"}
                            and len(b["required"]) == 1 for b in branches)):
            keys = [b["required"][0] for b in branches]
            test = " or ".join(f"{k!r} in {x}" for k in keys)
            if known != _KIND_TYPES["object"]:
                test = f"isinstance({x}, dict) and not ({test})"
            else:
                test = f"not ({test})"
            w(ind, f"if {test}:")
            self.raise_(w, ind + 1, p, repr("expected at least one of " + ", ".join(keys)))
            return
        self.need_match = True
        names = [self.branch(b, f"{where}/{i}") for i, b in enumerate(branches)]
        w(ind, f"_match({x}, {p}, ({', '.join(names)},), {one})")

    def predicate(self, s, x, known):
        """A boolean expression for simple `if` schemas, or None."""
        if s is True:
            return "True"
        if not isinstance(s, dict) or set(s) - {"required", "properties"} - _ANNOTATIONS:
            return None
        tests = [f"{k!r} in {x}" for k in s.get("required", ())]
        for k, sub in s.get("properties", {}).items():
            if not isinstance(sub, dict) or set(sub) - _ANNOTATIONS not in ({"const"}, {"enum"}):
                return None
            values = sub.get("enum", [sub.get("const")])
            if not all(isinstance(v, str) for v in values):
                return None
            v = f"{x}[{k!r}]"
            if len(values) == 1:
                t = f"{v} == {values[0]!r}"
            else:
                t = (f"(isinstance({v}, str) and {v} in "
                     f"{self.const('frozenset(' + repr(tuple(values)) + ')', '_E')})")
            tests.append(f"({k!r} not in {x} or {t})")
        test = " and ".join(tests) or "True"
        if known != frozenset(("object",)):
            test = f"(not isinstance({x}, dict) or ({test}))"
        return test

    def emit_if(self, w, ind, s, x, p, where, known):
        then, else_ = s.get("then", True), s.get("else", True)
        if then is True and else_ is True:
            return
        test = self.predicate(s["if"], x, known)
        if test is None:
            name = self.branch(s["if"], f"{where}/if")
            flag = self.fresh("f")
            w(ind, "try:")
            w(ind + 1, f"{name}({x}, {p})")
            w(ind + 1, f"{flag} = True")
            w(ind, "except ConfigError:")
            w(ind + 1, f"{flag} = False")
            test = flag
        if then is not True:
            w(ind, f"if {test}:")
            n = len(w.lines)
            self.emit(w, ind + 1, then, x, p, f"{where}/then", assume=known)
            if len(w.lines) == n:
                w(ind + 1, "pass")
            if else_ is not True:
                w(ind, "else:")
                self.emit(w, ind + 1, else_, x, p, f"{where}/else", assume=known)
        else:
            w(ind, f"if not ({test}):")
            self.emit(w, ind + 1, else_, x, p, f"{where}/else", assume=known)

    def emit_kind(self, w, ind, s, x, p, where, known, kind, keywords, emitter, pre):
        if not any(k in s for k in keywords):
            return
        kinds = _KIND_TYPES[kind]
        if known is not None and not (known & kinds):
            return  # the type check already excluded this kind of value
        if known is not None and known <= kinds:
            emitter(w, ind, s, x, p, where, known, pre)
            return
        test = " or ".join(_TYPE_TEST[t].format(x=x) for t in sorted(kinds))
        w(ind, f"if {test}:")
        emitter(w, ind + 1, s, x, p, where, known, pre)

    def emit_number(self, w, ind, s, x, p, where, known, pre):
        types = sorted(known) if known else ["number"]
        msg = repr(pre + "expected " + self.describe(s, types) + ", got ")
        tests = []
        for kw, op in (("minimum", "<"), ("exclusiveMinimum", "<="),
                       ("maximum", ">"), ("exclusiveMaximum", ">=")):
            if kw in s:
                tests.append(f"{x} {op} {self.number(s, kw, where)!r}")
        w(ind, f"if {' or '.join(tests)}:")
        self.raise_(w, ind + 1, p, f"{msg} + _show({x})")

    @staticmethod
    def number(s, kw, where):
        v = s[kw]
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise SchemaError(f"{where}: {kw} must be a number")
        return v

    def emit_string(self, w, ind, s, x, p, where, known, pre):
        lo, hi = s.get("minLength"), s.get("maxLength")
        if lo is not None and lo > 0:
            what = ("a non-empty string" if lo == 1
                    else f"a string of at least {lo} characters")
            w(ind, f"if len({x}) < {lo}:")
            self.raise_(w, ind + 1, p, f"{pre + 'expected ' + what + ', got '!r} + _show({x})")
        if hi is not None:
            w(ind, f"if len({x}) > {hi}:")
            self.raise_(w, ind + 1, p, f"{pre + f'expected at most {hi} characters, got '!r}"
                                       f" + _show({x})")
        if "pattern" in s:
            pattern = s["pattern"]
            prefix = _literal_prefix(pattern)
            if prefix is not None:
                test = f"not {x}.startswith({prefix!r})"
                what = f"a string starting with {prefix!r}"
            else:
                self.need_re = True
                test = f"not _search({pattern!r}, {x})"
                what = f"a string matching /{pattern}/"
            w(ind, f"if {test}:")
            self.raise_(w, ind + 1, p, f"{pre + 'expected ' + what + ', got '!r} + _show({x})")

    def emit_array(self, w, ind, s, x, p, where, known, pre):
        lo, hi = s.get("minItems"), s.get("maxItems")
        if lo:
            w(ind, f"if len({x}) < {lo}:")
            what = f"expected at least {lo} item{'s' if lo > 1 else ''}, got "
            self.raise_(w, ind + 1, p, f"{pre + what!r} + str(len({x}))")
        if hi is not None:
            w(ind, f"if len({x}) > {hi}:")
            self.raise_(w, ind + 1, p, f"{pre + f'expected at most {hi} items, got '!r}"
                                       f" + str(len({x}))")
        items = s.get("items", True)
        if isinstance(items, list):
            raise SchemaError(f"{where}: array-form items (tuples) is not supported")
        if items is not True:
            i, v = self.fresh("i"), self.fresh("v")
            w(ind, f"for {i}, {v} in enumerate({x}):")
            n = len(w.lines)
            self.emit(w, ind + 1, items, v, f"({p}, {i})", f"{where}/items")
            if len(w.lines) == n:
                w(ind + 1, "pass")

    def emit_object(self, w, ind, s, x, p, where, known, pre):
        for k in s.get("required", ()):
            w(ind, f"if {k!r} not in {x}:")
            self.raise_(w, ind + 1, f"({p}, {k!r})", repr("is required"))
        for k, needs in s.get("dependentRequired", {}).items():
            for n in needs:
                w(ind, f"if {k!r} in {x} and {n!r} not in {x}:")
                self.raise_(w, ind + 1, f"({p}, {n!r})", repr(f"is required when {k} is set"))
        props = s.get("properties", {})
        for k, sub in props.items():
            if sub is True:
                continue
            v = self.fresh("v")
            w(ind, f"{v} = {x}.get({k!r}, _M)")
            w(ind, f"if {v} is not _M:")
            n = len(w.lines)
            self.emit(w, ind + 1, sub, v, f"({p}, {k!r})", f"{where}/properties/{k}")
            if len(w.lines) == n:
                w(ind + 1, "pass")
        if "propertyNames" in s and s["propertyNames"] is not True:
            k = self.fresh("k")
            w(ind, f"for {k} in {x}:")
            self.emit(w, ind + 1, s["propertyNames"], k, f"({p}, {k})",
                      f"{where}/propertyNames", pre="invalid property name: ",
                      assume=frozenset(("string",)))
        extra = s.get("additionalProperties", True)
        if extra is True:
            return
        k, v = self.fresh("k"), self.fresh("v")
        known_keys = (self.const("frozenset(" + repr(tuple(props)) + ")", "_K")
                      if props else None)
        if extra is False:
            w(ind, f"for {k} in {x}:")
            if known_keys:
                w(ind + 1, f"if {k} not in {known_keys}:")
                self.raise_(w, ind + 2, f"({p}, {k})", repr("unknown property"))
            else:
                self.raise_(w, ind + 1, f"({p}, {k})", repr("unknown property"))
            return
        w(ind, f"for {k}, {v} in {x}.items():")
        if known_keys:
            w(ind + 1, f"if {k} in {known_keys}:")
            w(ind + 2, "continue")
        n = len(w.lines)
        self.emit(w, ind + 1, extra, v, f"({p}, {k})", f"{where}/additionalProperties")
        if len(w.lines) == n:
            w(ind + 1, "pass")


def _source(schema, origin, digest):
    c = _Compiler(schema)
    w = _Writer()
    w(0, "def validate(doc):")
    w(1, '"""Check a decoded JSON document; ConfigError(path, message) on the first fault."""')
    n = len(w.lines)
    c.emit(w, 1, schema, "doc", "None", "#")
    if len(w.lines) == n:
        w(1, "pass")
    parts = [
        f'"""Validator generated by pyrunc.schemagen from {origin}. Do not edit.\n\n'
        'validate(doc) raises pyrunc.errors.ConfigError(path, message) on the\n'
        'first violation; it returns None when the document is valid.\n"""',
        "from pyrunc.errors import ConfigError",
        "",
        f"SCHEMA = {origin!r}",
        f"SCHEMA_SHA256 = {digest!r}",
        _RUNTIME.rstrip(),
    ]
    if c.need_match:
        parts.append(_RUNTIME_MATCH.rstrip())
    if c.need_re:
        parts.append(_RUNTIME_RE.rstrip())
    if c.const_lines:
        parts.append("\n" + "\n".join(c.const_lines))
    for f in c.functions:
        parts.append("\n\n" + f)
    parts.append("\n\n" + "\n".join(w.lines))
    return "\n".join(parts) + "\n"


def generate(schema_path):
    """Return the Python source of a validator module for the schema file."""
    import hashlib
    import json

    with open(schema_path, "rb") as f:
        data = f.read()
    try:
        schema = json.loads(data)
    except ValueError as e:
        raise SchemaError(f"{schema_path}: invalid JSON: {e}") from None
    origin = os.path.basename(schema_path)
    parent = os.path.basename(os.path.dirname(os.path.abspath(schema_path)))
    if parent:
        origin = parent + "/" + origin
    src = _source(schema, origin, hashlib.sha256(data).hexdigest())
    compile(src, origin, "exec")  # a compiler bug should fail here, at build time
    return src


def write(schema_path, out_path):
    """generate() and write the module to out_path (atomically)."""
    src = generate(schema_path)
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(src)
    os.replace(tmp, out_path)
    return out_path


_loaded = {}


def spec_dir():
    """The spec/ directory of a source tree (next to the pyrunc package)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "spec")


def load_validator(name):
    """Compile a validator in memory and return it as a module.

    `name` is "config" or "state" (spec/<name>-schema.json), or the path of a
    schema file. For source trees where setup.py has not generated
    pyrunc/_configcheck.py and pyrunc/_statecheck.py.
    """
    mod = _loaded.get(name)
    if mod is not None:
        return mod
    path = name if name.endswith(".json") else os.path.join(spec_dir(), f"{name}-schema.json")
    src = generate(path)
    stem = os.path.basename(path).split("-schema")[0].split(".")[0]
    mod = type(sys)(f"pyrunc._{stem}check")
    mod.__file__ = path
    exec(compile(src, f"<schemagen {path}>", "exec"), mod.__dict__)
    _loaded[name] = mod
    return mod


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] in ("-h", "--help"):
        sys.stderr.write("usage: python -m pyrunc.schemagen SCHEMA.json OUT.py\n")
        return 2
    try:
        write(argv[0], argv[1])
    except (OSError, SchemaError) as e:
        sys.stderr.write(f"schemagen: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
