"""The config.json Docker 20.10 writes, run as it is by pyrunc and by runc.

/work/shared/clients/docker-20.10-config.json was recorded from
`docker run -d --network none IMAGE sleep 600`. Only what cannot be
carried over to this machine is adapted: the rootfs, the command, the
prestart hook (dockerd's /proc/<pid>/exe libnetwork-setkey), the sources
of the resolv.conf/hostname/hosts binds (files in dockerd's data dir) and
the cgroupsPath (a test-unique one). linux.resources stays as Docker
wrote it: {"blockIO": {"weight": 0}, "cpu": {"shares": 0}, "memory":
{"disableOOMKiller": false}} must run on a host without blkio weights,
as it does with runc.
"""
import copy
import json
import os
import shutil
import subprocess

import pytest

from conftest import RUNC, needs_root

DOCKER_CONFIG = "/work/shared/clients/docker-20.10-config.json"

pytestmark = [needs_root, pytest.mark.cgroupv2,
              pytest.mark.skipif(not os.path.exists(DOCKER_CONFIG),
                                 reason="no recorded Docker config"),
              pytest.mark.skipif(not os.path.exists(RUNC), reason="runc not installed")]

ARGS = ["/bin/sh", "-c", "echo hello from $(hostname); id; cat /etc/hostname; "
                         "cat /proc/self/status | grep -E '^(Seccomp|NoNewPrivs):'"]

# containerd/Docker update payloads: zeros for every field left alone
# (moby's toContainerdResources: shares, period, quota, limit,
# reservation and kernel always sent; blkio weight only when nonzero)
DOCKER_UPDATE = {"cpu": {"shares": 0, "period": 0, "quota": 0},
                 "memory": {"limit": 0, "reservation": 0, "kernel": 0}}


def docker_config():
    with open(DOCKER_CONFIG) as f:
        return json.load(f)


def adapt(cfg, bundle_dir, cid, args=ARGS):
    """Only what cannot run here as recorded; everything else, the whole
    of linux.resources included, as Docker wrote it."""
    cfg = copy.deepcopy(cfg)
    cfg["root"]["path"] = os.path.join(bundle_dir, "rootfs")
    cfg["process"]["args"] = list(args)
    hooks = cfg.get("hooks", {})
    hooks["prestart"] = [h for h in hooks.get("prestart", [])
                         if not h["path"].startswith("/proc/")]
    if not hooks["prestart"]:
        del hooks["prestart"]
    for m in cfg["mounts"]:
        if m["type"] == "bind" and m["source"].startswith("/tmp/dh2/"):
            src = os.path.join(bundle_dir, os.path.basename(m["source"]))
            with open(src, "w") as f:
                f.write({"hostname": cfg["hostname"] + "\n",
                         "hosts": "127.0.0.1\tlocalhost\n",
                         "resolv.conf": "nameserver 127.0.0.1\n"}[os.path.basename(src)])
            m["source"] = src
    cfg["linux"]["cgroupsPath"] = f"/{cid}"
    for ns in cfg["linux"]["namespaces"]:
        assert "path" not in ns  # (--network none: a new, empty one)
    return cfg


def make_bundle(path, rootfs_template, cfg_for):
    os.makedirs(path)
    shutil.copytree(rootfs_template, os.path.join(path, "rootfs"), symlinks=True)
    cfg = cfg_for(path)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f)
    return cfg


def test_adapt_keeps_what_docker_wrote(tmp_path):
    orig = docker_config()
    cfg = adapt(orig, str(tmp_path), "x")
    assert cfg["linux"]["resources"] == orig["linux"]["resources"]
    assert cfg["linux"]["resources"]["blockIO"] == {"weight": 0}
    assert cfg["linux"]["resources"]["cpu"] == {"shares": 0}
    assert cfg["linux"]["resources"]["memory"] == {"disableOOMKiller": False}
    for key in ("seccomp", "maskedPaths", "readonlyPaths", "sysctl", "namespaces"):
        assert cfg["linux"][key] == orig["linux"][key]
    assert cfg["process"]["user"] == orig["process"]["user"]
    assert cfg["process"]["capabilities"] == orig["process"]["capabilities"]
    assert "prestart" not in cfg["hooks"]
    assert [m["destination"] for m in cfg["mounts"]] == \
        [m["destination"] for m in orig["mounts"]]


def run_both(tmp_path, rootfs_template, runtime, runc, args=ARGS):
    """`run` of the adapted Docker config by each runtime, foreground."""
    out = {}
    for name, rt in (("pyrunc", runtime), ("runc", runc)):
        cid = rt.new_id()
        b = str(tmp_path / f"bundle-{name}")
        make_bundle(b, rootfs_template, lambda p: adapt(docker_config(), p, cid, args))
        p = rt("run", "-b", b, cid)
        out[name] = p
        if name == "runc":
            rt("delete", "--force", cid)
    return out["pyrunc"], out["runc"]


def test_docker_config_runs_as_with_runc(tmp_path, rootfs_template, runtime, runc):
    mine, theirs = run_both(tmp_path, rootfs_template, runtime, runc)
    assert theirs.returncode == 0, theirs.stderr
    assert mine.returncode == theirs.returncode, mine.stderr
    assert mine.stdout == theirs.stdout
    assert "hello from 73922ba59117" in mine.stdout
    assert "Seccomp:\t2" in mine.stdout


def test_docker_config_exit_status_as_with_runc(tmp_path, rootfs_template, runtime, runc):
    mine, theirs = run_both(tmp_path, rootfs_template, runtime, runc,
                            args=["/bin/sh", "-c", "echo out; exit 7"])
    assert (mine.returncode, mine.stdout) == (theirs.returncode, theirs.stdout) == (7, "out\n")


def _cgroup_of(pid, ctl):
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctls, path = line.rstrip("\n").split(":", 2)
            if ctl in ctls.split(","):
                return f"/sys/fs/cgroup/{ctls}{path}"
    return None


def test_docker_update_zeros_as_with_runc(tmp_path, rootfs_template, runtime, runc):
    """Docker's and containerd's update payloads (zeros for what is left
    alone; CRI resends the create-time resources) change nothing and
    succeed, as with runc."""
    cids = {}
    for name, rt in (("pyrunc", runtime), ("runc", runc)):
        cid = rt.new_id()
        b = str(tmp_path / f"bundle-{name}")
        make_bundle(b, rootfs_template,
                    lambda p: adapt(docker_config(), p, cid, ["sleep", "600"]))
        p = rt("run", "-d", "-b", b, cid, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, (name, p.stderr)
        cids[name] = cid
    try:
        for name, rt in (("pyrunc", runtime), ("runc", runc)):
            pid = rt.state(cids[name])["pid"]
            cpu = _cgroup_of(pid, "cpu")
            before = open(os.path.join(cpu, "cpu.shares")).read() if cpu else None
            for payload in (DOCKER_UPDATE, docker_config()["linux"]["resources"]):
                p = rt("update", "-r", "-", cids[name], input=json.dumps(payload))
                assert p.returncode == 0, (name, payload, p.stderr)
            if cpu:
                assert open(os.path.join(cpu, "cpu.shares")).read() == before
    finally:
        for name, rt in (("pyrunc", runtime), ("runc", runc)):
            rt("delete", "--force", cids[name])


def test_docker_resources_on_a_bare_busybox_bundle(runtime, bundle):
    """The same resources in pyrunc's own default spec (no seccomp, no
    Docker mounts): the zeros alone must not make create fail."""
    bundle.config["linux"]["resources"] = docker_config()["linux"]["resources"]
    bundle.args("/bin/echo", "ok").write()
    cid = runtime.new_id()
    p = runtime("run", "-b", bundle.path, cid)
    assert (p.returncode, p.stdout) == (0, "ok\n"), p.stderr

