"""The cgroup v2 device filter (pyrunc/cgroups/devices_bpf.py).

compile() is checked without the kernel: its program runs in a small eBPF
interpreter below and must agree with an independent model of the cgroup
v1 devices controller (written after the kernel's device_cgroup.c, not
after devices_bpf's reduce()). Then the kernel: the verifier accepts the
programs, and a program attached to a real cgroup decides open(2).
"""
import errno
import itertools
import os
import random
import stat
import struct

import pytest

from pyrunc.cgroups import devices_bpf as dbpf

ACC = {"m": 1, "r": 2, "w": 4}
TYPES = {"b": 1, "c": 2}
M32, M64 = (1 << 32) - 1, (1 << 64) - 1


# ---- a tiny eBPF interpreter: only the instructions compile() emits ----

def run(prog, dev_type, major, minor, access):
    """The program's verdict for a request (access: a string of rwm)."""
    bits = sum(ACC[c] for c in access)
    ctx = struct.pack("<III", (bits << 16) | TYPES[dev_type], major, minor)
    regs = [None] * 11
    regs[1] = "ctx"
    pc = 0
    assert len(prog) % 8 == 0
    while True:
        assert 0 <= pc < len(prog) // 8, "ran off the program"
        op, r, off, imm = struct.unpack_from("<BBhi", prog, pc * 8)
        dst, src = r & 0xF, r >> 4
        if op == 0x61:    # ldx w: only from the context
            assert regs[src] == "ctx" and off in (0, 4, 8)
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif op == 0x54:  # and32 imm
            regs[dst] = regs[dst] & imm & M32
        elif op == 0x74:  # rsh32 imm
            regs[dst] = (regs[dst] & M32) >> imm
        elif op == 0xB4:  # mov32 imm: zero-extends
            regs[dst] = imm & M32
        elif op == 0xBC:  # mov32 reg
            regs[dst] = regs[src] & M32
        elif op in (0x15, 0x55, 0x5D):  # jeq imm, jne imm, jne reg
            assert off >= 0, "backward jump"
            b = regs[src] if op == 0x5D else imm & M64  # imm is sign-extended
            if (regs[dst] == b) == (op == 0x15):
                pc += off
        elif op == 0x95:  # exit
            assert regs[0] in (0, 1), "r0 not set to a verdict"
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {op:#x} at {pc}")
        pc += 1


# ---- the reference: cgroup v1's devices controller, as the kernel has it ----

class V1Model:
    """Behaviour (allow-all or deny-all) plus exceptions; writes edit only
    the exception with the very same (type, major, minor); a check needs
    one exception covering all bits (deny-all) or none sharing a bit
    (allow-all)."""

    def __init__(self, rules):
        self.allow_all = False
        self.exceptions = []  # [type, major, minor, bits], -1 = wildcard
        for r in rules:
            self.write(r)

    def write(self, r):
        t = r.get("type") or "a"
        if t == "a":
            self.allow_all, self.exceptions = bool(r.get("allow")), []
            return
        major = -1 if r.get("major") is None or r["major"] < 0 else r["major"]
        minor = -1 if r.get("minor") is None or r["minor"] < 0 else r["minor"]
        bits = sum(ACC[c] for c in set(r.get("access") or "rwm"))
        same = [e for e in self.exceptions if e[:3] == [t, major, minor]]
        if bool(r.get("allow")) != self.allow_all:  # add an exception
            if same:
                same[0][3] |= bits
            else:
                self.exceptions.append([t, major, minor, bits])
        else:  # remove bits from the same exception
            for e in same:
                e[3] &= ~bits
            self.exceptions = [e for e in self.exceptions if e[3]]

    def allows(self, t, major, minor, access):
        bits = sum(ACC[c] for c in access)
        hits = [e for e in self.exceptions
                if e[0] == t and e[1] in (-1, major) and e[2] in (-1, minor)]
        if self.allow_all:
            return not any(e[3] & bits for e in hits)
        return any(not (bits & ~e[3]) for e in hits)


def rules(*texts):
    """'+c 1:3 rw' / '-a' / '+b *:* m' -> OCI rule dicts."""
    out = []
    for text in texts:
        allow, spec = text[0] == "+", text[1:].split()
        r = {"allow": allow, "type": spec[0]}
        if len(spec) > 1:
            major, minor = spec[1].split(":")
            r["major"] = None if major == "*" else int(major)
            r["minor"] = None if minor == "*" else int(minor)
        if len(spec) > 2:
            r["access"] = spec[2]
        out.append(r)
    return out


RUNC_DEFAULTS = rules(
    "+c *:* m", "+b *:* m", "+c 1:3 rwm", "+c 1:5 rwm", "+c 1:7 rwm", "+c 1:8 rwm",
    "+c 1:9 rwm", "+c 5:0 rwm", "+c 5:1 rwm", "+c 5:2 rwm", "+c 136:* rwm", "+c 10:200 rwm")

# (rules, request "t major:minor access", allowed?)
CASES = [
    ([], "c 1:3 r", False),
    ([], "b 8:0 m", False),
    # wildcards
    (rules("+c *:* m"), "c 5:7 m", True),
    (rules("+c *:* m"), "c 5:7 r", False),
    (rules("+c *:* m"), "b 8:0 m", False),
    (rules("+c 1:* rw"), "c 1:99 rw", True),
    (rules("+c 1:* rw"), "c 2:1 r", False),
    (rules("+c *:3 r"), "c 7:3 r", True),
    (rules("+c *:3 r"), "c 7:4 r", False),
    (rules("+b 8:*"), "b 8:16 rwm", True),  # access missing = rwm
    # type a, either way, whatever else the rule says
    (rules("+a"), "b 8:0 rwm", True),
    (rules("-a"), "c 1:3 r", False),
    ([{"allow": True, "major": 1, "minor": 3, "access": "r"}], "b 9:9 w", True),
    # partial access: one exception must hold every requested bit
    (rules("+c 1:3 r"), "c 1:3 r", True),
    (rules("+c 1:3 r"), "c 1:3 rw", False),
    (rules("+c 1:3 r"), "c 1:3 w", False),
    (rules("+c 1:3 r"), "c 1:3 ", True),  # access(2)-style probe, no bits
    (rules("+c 1:3 r", "+c 1:3 w"), "c 1:3 rw", True),  # same device: merged
    (rules("+c 1:3 r", "+c *:* w"), "c 1:3 rw", False),  # not merged
    # deny after allow takes bits away: rwm - w = rm
    (rules("+c 1:3 rwm", "-c 1:3 w"), "c 1:3 r", True),
    (rules("+c 1:3 rwm", "-c 1:3 w"), "c 1:3 rw", False),
    (rules("+c 1:3 rwm", "-c 1:3 w"), "c 1:3 w", False),
    (rules("+c 1:3 rwm", "-c 1:3 w"), "c 1:3 m", True),
    (rules("+c 1:3 rwm", "-c 1:3"), "c 1:3 r", False),
    # allow after deny
    (rules("-c 1:3 rwm", "+c 1:3 rw"), "c 1:3 rw", True),
    (rules("+c 1:3 rw", "-c 1:3 rw", "+c 1:3 r"), "c 1:3 r", True),
    (rules("+c 1:3 rw", "-c 1:3 rw", "+c 1:3 r"), "c 1:3 w", False),
    # v1 edits only the exception with the same numbers: a wildcard deny
    # leaves a specific allow alone
    (rules("+c 1:3 rwm", "-c *:* rwm"), "c 1:3 rw", True),
    (rules("+c 1:3 rwm", "-c *:* rwm"), "c 1:4 r", False),
    # a leading "allow a": default allow, the denies are exceptions; a deny
    # shares bits with the request -> denied
    (rules("+a", "-c 1:3 rwm", "-b 8:* w"), "c 1:3 r", False),
    (rules("+a", "-c 1:3 rwm", "-b 8:* w"), "c 1:5 rw", True),
    (rules("+a", "-c 1:3 rwm", "-b 8:* w"), "b 8:1 w", False),
    (rules("+a", "-c 1:3 rwm", "-b 8:* w"), "b 8:1 rw", False),  # runc: allowed
    (rules("+a", "-c 1:3 rwm", "-b 8:* w"), "b 8:1 r", True),
    (rules("+a", "-c 1:3 rwm", "-b 8:* w"), "b 8:1 ", True),
    (rules("+a", "-c 1:3 rw", "+c 1:3 w"), "c 1:3 r", False),
    (rules("+a", "-c 1:3 rw", "+c 1:3 w"), "c 1:3 w", True),
    # "a" resets whatever came before it
    (rules("+c 1:3 rwm", "-a", "+c 1:5 r"), "c 1:3 r", False),
    (rules("+c 1:3 rwm", "-a", "+c 1:5 r"), "c 1:5 r", True),
    (rules("-b 8:1 rwm", "+a", "-b 8:2 rwm"), "b 8:1 rw", True),
    (rules("-b 8:1 rwm", "+a", "-b 8:2 rwm"), "b 8:2 r", False),
    # numbers past 2^31: compared as u32, not sign-extended
    (rules("+c 4294967280:2147483648 r"), "c 4294967280:2147483648 r", True),
    (rules("+c 4294967280:2147483648 r"), "c 2147483632:2147483648 r", False),
    # runc's default rules
    (RUNC_DEFAULTS, "c 1:3 rw", True),
    (RUNC_DEFAULTS, "c 1:7 r", True),
    (RUNC_DEFAULTS, "c 4:1 rw", False),
    (RUNC_DEFAULTS, "c 4:1 m", True),
    (RUNC_DEFAULTS, "b 8:0 m", True),
    (RUNC_DEFAULTS, "b 8:0 r", False),
    (RUNC_DEFAULTS, "c 136:5 rw", True),
    (RUNC_DEFAULTS, "c 10:200 rw", True),
    (RUNC_DEFAULTS, "c 10:229 rw", False),
    (rules("-a", "+c 10:229 rw") + RUNC_DEFAULTS, "c 10:229 rw", True),
    (rules("+a") + RUNC_DEFAULTS, "b 8:0 rw", True),
]


def _request(text):
    t, nums, *access = text.split(" ")
    major, minor = nums.split(":")
    return t, int(major), int(minor), access[0] if access else ""


@pytest.mark.parametrize("rule_list,req,allowed", CASES)
def test_compile_cases(rule_list, req, allowed):
    t, major, minor, access = _request(req)
    assert V1Model(rule_list).allows(t, major, minor, access) == allowed, "model disagrees"
    assert run(dbpf.compile(rule_list), t, major, minor, access) == int(allowed)


def test_compile_agrees_with_v1_model_on_random_rules():
    rnd = random.Random(4242)
    nums, accesses = (None, 1, 2), ("r", "w", "m", "rw", "rm", "wm", "rwm")
    requests = [(t, ma, mi, "".join(a))
                for t in "bc" for ma in (1, 2, 3) for mi in (1, 2, 3)
                for n in range(4) for a in itertools.combinations("rwm", n)]
    checked = 0
    for _ in range(400):
        rule_list = [{"allow": rnd.random() < 0.6, "type": rnd.choice("abcccbb"),
                      "major": rnd.choice(nums), "minor": rnd.choice(nums),
                      "access": rnd.choice(accesses)} for _ in range(rnd.randint(0, 7))]
        try:
            prog = dbpf.compile(rule_list)
        except OSError as e:  # a hole in a wildcard: refused, checked below
            assert "wildcard" in str(e)
            continue
        model = V1Model(rule_list)
        for req in requests:
            assert run(prog, *req) == int(model.allows(*req)), (rule_list, req)
        checked += 1
    assert checked > 200


def test_empty_rules_deny_everything():
    assert dbpf.reduce([]) == (False, [])
    assert len(dbpf.compile([])) == 8 * 8  # six loads, the verdict, exit


@pytest.mark.parametrize("texts", [
    ("+c *:* m", "-c 1:3 m"),
    ("+c 1:* rw", "-c 1:3 w"),
    ("+c *:3 rw", "-c 1:3 r"),
    ("+a", "-c 1:* w", "+c 1:3 w"),
])
def test_hole_in_wildcard_is_refused(texts):
    with pytest.raises(OSError) as e:
        dbpf.compile(rules(*texts))
    assert e.value.errno == errno.EINVAL and "wildcard" in str(e.value)


def test_deny_not_overlapping_a_wildcard_is_fine():
    prog = dbpf.compile(rules("+c *:* m", "+c 1:3 rw", "-c 1:3 w"))
    assert run(prog, "c", 1, 3, "r") == 1 and run(prog, "c", 1, 3, "w") == 0
    assert run(prog, "c", 1, 3, "m") == 1


@pytest.mark.parametrize("bad", [
    {"allow": True, "type": "u", "major": 1, "minor": 3},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rx"},
    {"allow": True, "type": "c", "major": "1", "minor": 3},
    {"allow": True, "type": "c", "major": 1, "minor": 1 << 32},
])
def test_invalid_rules(bad):
    with pytest.raises(OSError) as e:
        dbpf.compile([bad])
    assert e.value.errno == errno.EINVAL and "rule 0" in str(e.value)


# ---- the kernel ----

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def cgroup2_root():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[fields.index("-") + 1] == "cgroup2":
                return fields[4]
    return None


@pytest.fixture
def cgroup_dir():
    root = cgroup2_root()
    if root is None:
        pytest.skip("no cgroup2 mount")
    path = os.path.join(root, f"pyrunc-test-bpf-{os.getpid()}")
    os.mkdir(path)
    try:
        yield path
    finally:
        # its programs go with it; the children are reaped by now
        for _ in range(50):
            try:
                os.rmdir(path)
                break
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                import time
                time.sleep(0.05)
        assert not os.path.exists(path), f"leaked {path}"


def in_cgroup(cgroup, check):
    """Run check() in a forked child moved into the cgroup; its result, a
    small int, is the child's exit status."""
    pid = os.fork()
    if pid == 0:
        try:
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write("0")
            os._exit(check())
        except BaseException:
            os._exit(100)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def try_open(path, flags):
    """0 if it opens, else the errno."""
    try:
        os.close(os.open(path, flags))
        return 0
    except OSError as e:
        return e.errno


def probe(tmp):
    """Bits: 1 /dev/null rw failed, 2 /dev/full (1:7) r refused with EPERM,
    4 /dev/full opened, 8 mknod of a 1:3 node refused with EPERM."""
    out = 0
    if try_open("/dev/null", os.O_RDWR) != 0:
        out |= 1
    full = try_open("/dev/full", os.O_RDONLY)
    out |= 2 if full == errno.EPERM else 4 if full == 0 else 0
    node = os.path.join(tmp, "null")
    try:
        os.mknod(node, stat.S_IFCHR | 0o600, os.makedev(1, 3))
        os.unlink(node)
    except PermissionError:
        out |= 8
    return out


NULL_ZERO = rules("+c 1:3 rw", "+c 1:5 rw")


@needs_root
@pytest.mark.cgroupv2
@pytest.mark.parametrize("rule_list", [
    [], rules("+a"), rules("-a"), NULL_ZERO, RUNC_DEFAULTS,
    rules("+a", "-b 8:* w", "-c 1:3 rwm") + RUNC_DEFAULTS,
    rules("+c 4294967280:2147483648 r"),
])
def test_verifier_accepts(rule_list):
    fd = dbpf.load(dbpf.compile(rule_list))
    os.close(fd)


@needs_root
def test_verifier_refusal_is_in_the_error():
    with pytest.raises(OSError) as e:
        dbpf.load(bytes.fromhex("9500000000000000"))  # exit, r0 never set
    assert "BPF_PROG_LOAD" in str(e.value) and "R0" in str(e.value)


@needs_root
def test_attach_to_a_non_cgroup_fails_clearly(tmp_path):
    with pytest.raises(OSError) as e:
        dbpf.attach(str(tmp_path), NULL_ZERO)
    assert "device filter" in str(e.value)
    with pytest.raises(OSError) as e:
        dbpf.attach(str(tmp_path / "nosuch"), NULL_ZERO)
    assert e.value.errno == errno.ENOENT and "nosuch" in str(e.value)


@needs_root
@pytest.mark.cgroupv2
def test_enforced_and_updated(cgroup_dir, tmp_path):
    tmp = str(tmp_path)
    dbpf.attach(cgroup_dir, NULL_ZERO)
    first = dbpf.attached(cgroup_dir)
    assert len(first) == 1
    # /dev/null rw works, /dev/full is refused, mknod (no "m") is refused
    assert in_cgroup(cgroup_dir, lambda: probe(tmp)) == 2 | 8

    # update: attach-then-detach leaves exactly the new program
    dbpf.attach(cgroup_dir, NULL_ZERO + rules("+c 1:7 r", "+c 1:3 m"))
    now = dbpf.attached(cgroup_dir)
    assert len(now) == 1 and now != first
    assert in_cgroup(cgroup_dir, lambda: probe(tmp)) == 4

    # a partial deny: rw of /dev/null is gone, r stays
    dbpf.attach(cgroup_dir, rules("+c 1:3 rwm", "-c 1:3 w"))
    assert len(dbpf.attached(cgroup_dir)) == 1
    assert in_cgroup(cgroup_dir, lambda: (try_open("/dev/null", os.O_RDONLY) == 0)
                     | (try_open("/dev/null", os.O_RDWR) == errno.EPERM) << 1) == 3

    dbpf.detach_all(cgroup_dir)
    assert dbpf.attached(cgroup_dir) == []
    assert in_cgroup(cgroup_dir, lambda: probe(tmp)) == 4
