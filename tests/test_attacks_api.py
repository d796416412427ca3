"""Attacks on the Python API (pyrunc/client.py): a container id is a
positional argument of the runtime's command line, and runc's id rule
allows a leading "-". An id taken from an untrusted source ("--all",
"--force", "-h") was read by the runtime as a flag: `kill(id)` became
`kill --all <sig>` of the container named like the signal, `state(id)`
printed help. The API now ends the flags with "--" (pyrunc and runc both
honour it), so an id is only ever an id. Run against pyrunc and runc 1.1.5."""
import pytest

import pyrunc
from conftest import needs_root
from test_api import api, wait_status  # noqa: F401  (fixture)

pytestmark = needs_root


def test_an_id_that_is_a_flag_names_no_container(api, bundle):  # noqa: F811
    """kill("--all", 9) ran `kill --all 9`: SIGTERM to every process of
    the container named "9" (seen before the fix, with both runtimes). The
    victim must survive every attacker's id."""
    rt, new_id = api
    victim = "9"  # (a valid id: what `kill --all 9` would have taken as the id)
    bundle.args("/bin/sleep", "60").write()
    rt.run(victim, bundle.path, detach=True)
    try:
        for bad in ("--all", "--force", "-h"):
            with pytest.raises(pyrunc.RuntimeFailed):
                rt.kill(bad, 9)
            with pytest.raises(pyrunc.ContainerNotFound):
                rt.state(bad)
            with pytest.raises(pyrunc.RuntimeFailed):
                rt.delete(bad)
        assert rt.state(victim).status == "running"
    finally:
        rt.delete(victim, force=True)


def test_a_container_whose_id_starts_with_a_dash(api, bundle):  # noqa: F811
    rt, new_id = api
    cid = "-" + new_id()
    bundle.args("/bin/sleep", "60").write()
    rt.run(cid, bundle.path, detach=True)
    try:
        assert rt.state(cid).status == "running"
        assert rt.exec(cid, ["/bin/true"]) == 0
        rt.pause(cid)
        rt.resume(cid)
        rt.kill(cid, 9)
        wait_status(rt, cid, "stopped")
    finally:
        rt.delete(cid, force=True)
    assert cid not in [s.id for s in rt.list()]
