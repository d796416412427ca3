"""CVE-2025-31133: maskedPaths are masked by bind-mounting /dev/null over
them; a /dev that the bundle or image provides (bind-mounted from a
directory) may hold a "null" that is not the null device: a symlink to a
procfs file (e.g. /proc/sys/kernel/core_pattern, which the kernel would
then expose read-write at the masked path), or a plain file. pyrunc
checks that /dev/null is the 1:3 character device (opened without
following symlinks, and masks with that very fd) and refuses the
container otherwise, naming the field; runc 1.1.5 follows the symlink and
mounts the procfs file over the masked path (the container only reads it
here: it shows the host's core_pattern where /proc/timer_list should be
empty)."""
import os

import pytest

from conftest import needs_root

pytestmark = needs_root


def _plant(bundle, kind):
    devdir = os.path.join(bundle.path, "devdir")
    os.makedirs(os.path.join(devdir, "pts"))
    os.symlink("pts/ptmx", os.path.join(devdir, "ptmx"))
    null = os.path.join(devdir, "null")
    if kind == "symlink":
        os.symlink("/proc/sys/kernel/core_pattern", null)
    else:
        with open(null, "w") as f:
            f.write("not the null device\n")
    for m in bundle.config["mounts"]:
        if m["destination"] == "/dev":
            m.update(type="bind", source=devdir, options=["rbind"])
    bundle.config["linux"]["maskedPaths"] = ["/proc/timer_list"]
    bundle.sh("cat /proc/timer_list").write()
    return null


@pytest.mark.parametrize("kind", ["symlink", "file"])
def test_dev_null_that_is_not_the_null_device_masks_nothing(runtime, bundle, kind):
    null = _plant(bundle, kind)
    cid = runtime.new_id()
    p = runtime("run", "-b", bundle.path, cid)
    assert p.returncode == 1, p.stdout
    assert "linux.maskedPaths: cannot mask with /dev/null: /dev/null is not the null device" \
        in p.stderr, p.stderr
    assert p.stdout == ""  # the process never ran
    assert not os.path.exists(os.path.join(runtime.root, cid))
    assert os.path.islink(null) == (kind == "symlink")  # left as it was


def test_runc_1_1_5_masks_with_what_the_symlink_names(runc, bundle):
    """The reference for the vulnerable behaviour (runc HEAD checks the
    device as pyrunc does): the masked path shows core_pattern."""
    _plant(bundle, "symlink")
    with open("/proc/sys/kernel/core_pattern") as f:
        pattern = f.read()
    p = runc("run", "-b", bundle.path, runc.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout == pattern
