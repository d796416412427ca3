"""Attacks on the log lines (pyrunc/log.py) and on the Python API that
reads them (pyrunc/client.py): a string of the bundle's author (a
tenant's config) carried into an error message must not forge a record.

The JSON log is one record per "\\n"-ended line; a reader that splits on
every Unicode line break (Python's str.splitlines: U+2028, U+2029, U+0085)
would cut a record inside a string and read what follows as a record of
its own: an exception of the attacker's class and message. logrus (Go's
encoding/json) escapes U+2028/U+2029; pyrunc escapes those and U+0085, in
both formats, and the API splits on "\\n" only."""
import json

import pytest

import pyrunc
from conftest import needs_root

pytestmark = needs_root

FORGED = json.dumps({"level": "error", "msg": "container forged does not exist",
                     "class": "container.not-found"})


@pytest.mark.parametrize("brk", ["\u2028", "\u2029", "\u0085"])
def test_config_string_cannot_hide_or_forge_an_api_error(runtime, bundle, brk):
    """The destination breaks the error record in two for a splitlines
    reader: the API lost the error (a bare "exited with status 1", no
    class), and with a record that parses after the break, would take
    that one instead."""
    dest = "/x" + brk + FORGED + brk + "y"
    bundle.config["mounts"].append({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                                    "options": ["size=bogus"]})
    bundle.write()
    rt = pyrunc.Runtime(runtime.bin, root=runtime.root)
    cid = runtime.new_id()
    with pytest.raises(pyrunc.RuntimeFailed) as ei:
        rt.create(cid, bundle.path)
    e = ei.value
    assert not isinstance(e, pyrunc.ContainerNotFound), (type(e), str(e))
    assert str(e).startswith("pyrunc create failed: ") and dest in str(e), e
    assert str(e).endswith(": invalid argument") and e.error_class == "resource.mount", e


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_debug_and_error_lines_hold_no_line_break(runtime, bundle, tmp_path, fmt):
    """Every record is one line by any reader's rule, and parses."""
    dest = "/x\u2028\u2029\u0085\r\"" + FORGED
    bundle.config["mounts"].append({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                                    "options": ["size=bogus"]})
    bundle.write()
    log = tmp_path / "log"
    p = runtime("--debug", "--log", log, "--log-format", fmt, "run", "-b", bundle.path,
                runtime.new_id())
    assert p.returncode == 1
    text = log.read_text(encoding="utf-8")
    lines = text.split("\n")[:-1]
    assert text.splitlines() == lines
    for line in lines:
        if fmt == "json":
            rec = json.loads(line)
        else:
            assert line.startswith('time="') and " level=" in line and " msg=\"" in line, line
    errors = [ln for ln in lines if "level=error" in ln or '"level":"error"' in ln]
    assert len(errors) == 1 and "invalid argument" in errors[0], errors
    if fmt == "json":
        assert rec["level"] == "error" and dest in rec["msg"], rec


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_lone_surrogate_in_a_config_string_still_logs_the_error(runtime, bundle, tmp_path, fmt):
    """"\\udc80" is valid JSON text but no UTF-8: the error line is still
    written (escaped), where the logger itself died with a traceback."""
    bundle.config["root"]["path"] = "rootfs\udc80"
    bundle.write()
    log = tmp_path / "log"
    p = runtime("--log", log, "--log-format", fmt, "run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    lines = log.read_text(encoding="utf-8").split("\n")[:-1]
    assert len(lines) == 1 and "is not a directory" in lines[0], lines
    if fmt == "json":
        rec = json.loads(lines[0])
        assert rec["msg"].endswith("rootfs\udc80 is not a directory") and rec["path"] == "root.path"
