"""Attacks through a bind source that leads into the container's rootfs
by a name other than the rootfs path (pyrunc/bindsources.py).

A source under the rootfs is resolved inside it (a symlink of the image,
or of the running container, stays in the container's tree). Which
sources those are was decided by the source's *name*: a source reaching
the rootfs through a host symlink (an alias of the rootfs, or of the
bundle: the engine's path and the config's differ) was opened by path,
following the container's symlink `/evil -> /` onto the host's "/".
runc 1.1.5 follows it by any name (the bind shows the host's "/")."""
import json
import os
import uuid

import pytest

from conftest import needs_root
from test_parity_lifecycle import runc  # noqa: F401  (fixture)

pytestmark = needs_root


@pytest.fixture
def secret(tmp_path):
    """A file on the host, outside the bundle: its text must never show."""
    p = tmp_path / "host-secret"
    text = f"host-secret-{uuid.uuid4().hex}"
    p.write_text(text)
    return str(p), text


def _alias(tmp_path, bundle, kind):
    """A host symlink to the rootfs (or to the bundle), and the source
    path through it to the container's /evil."""
    link = tmp_path / f"alias-{kind}"
    if kind == "rootfs":
        os.symlink(bundle.rootfs, link)
        return f"{link}/evil"
    os.symlink(bundle.path, link)
    return f"{link}/rootfs/evil"


def _read(path):
    return f"cat /mnt{path} 2>/dev/null || echo unreachable"


@pytest.mark.parametrize("kind", ["rootfs", "bundle"])
def test_create_bind_source_through_an_alias_of_the_rootfs(runtime, runc, bundle,  # noqa: F811
                                                           tmp_path, secret, kind):
    """The image's /evil -> /: the bind shows the rootfs's "/", never the
    host's, whatever name of the rootfs the source was written with."""
    path, text = secret
    os.symlink("/", os.path.join(bundle.rootfs, "evil"))
    src = _alias(tmp_path, bundle, kind)
    bundle.config["mounts"].append({"destination": "/mnt", "type": "bind", "source": src,
                                    "options": ["rbind", "ro"]})
    bundle.sh(_read(path)).write()
    if kind == "rootfs":  # (runc, once: the host's "/" is in its container)
        p = runc("run", "-b", bundle.path, runtime.new_id())
        assert p.returncode == 0 and p.stdout == text, (p.stdout, p.stderr)
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout == "unreachable\n", p.stdout


@pytest.fixture
def ubundle(rootfs_template):
    from test_userns import own_tmp_bundle
    yield from own_tmp_bundle(rootfs_template)


def test_create_bind_source_through_an_alias_in_a_user_namespace(runtime, ubundle, tmp_path,
                                                                 secret):
    """The same, the source opened by the runtime for an init in a user
    namespace (a 0700 parent it cannot pass: bindsources' child opens it).
    The secret where the container's mapped root could read it."""
    from test_console import _userns
    bundle = ubundle
    text = secret[1]
    path = os.path.join(os.path.dirname(bundle.path), "host-secret")
    with open(path, "w") as f:
        f.write(text)
    _userns(bundle)
    os.symlink("/", os.path.join(bundle.rootfs, "evil"))
    hidden = tmp_path / "hidden"
    hidden.mkdir(mode=0o700)
    os.symlink(bundle.rootfs, hidden / "alias")
    bundle.config["mounts"].append({"destination": "/mnt", "type": "bind",
                                    "source": f"{hidden}/alias/evil", "options": ["rbind"]})
    bundle.sh(_read(path)).write()
    p = runtime("run", "-b", bundle.path, runtime.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout == "unreachable\n", p.stdout


def test_mounts_add_source_through_an_alias_of_the_rootfs(runtime, bundle, tmp_path, secret):
    """The running container plants /evil -> / itself; the host then adds
    a bind of <alias of its rootfs>/evil."""
    path, text = secret
    bundle.sh("ln -s / /evil && sleep 600").write()
    cid = runtime.new_id()
    runtime("run", "-d", "-b", bundle.path, cid, check=True)
    try:
        for _ in range(100):
            if os.path.islink(os.path.join(bundle.rootfs, "evil")):
                break
            import time
            time.sleep(0.02)
        src = _alias(tmp_path, bundle, "rootfs")
        f = tmp_path / "mounts.json"
        f.write_text(json.dumps([{"destination": "/mnt", "type": "bind", "source": src,
                                  "options": ["rbind", "ro"]}]))
        p = runtime("mounts", "add", cid, f)
        assert p.returncode == 0, p.stderr
        p = runtime("exec", cid, "sh", "-c", _read(path))
        assert p.returncode == 0, p.stderr
        assert p.stdout == "unreachable\n", p.stdout
    finally:
        runtime("delete", "--force", cid)
