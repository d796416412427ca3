"""The cgroup v2 device controller: linux.resources.devices as an eBPF
program (BPF_PROG_TYPE_CGROUP_DEVICE) attached to the container's cgroup.

cgroup v2 has no devices.allow/devices.deny files; the kernel runs the
programs attached to a cgroup (and to its ancestors) at every open(2) or
mknod(2) of a device node and grants access only if all of them return 1.

The rules keep their cgroup v1 meaning, as runc gives them (its devices
"emulator"): reduce() replays them the way the v1 kernel would have
applied them to devices.allow/devices.deny, and the program encodes the
resulting exception list:

- the cgroup starts denying everything;
- a rule of type "a" (whatever its numbers and access) resets the
  cgroup: "allow a" to allow-all, "deny a" to deny-all, dropping every
  exception;
- in deny-all mode an allow rule adds its access bits to the exception
  for exactly its (type, major, minor) -- wildcards included, as written;
  a deny rule takes its bits away from that exception only: "allow c 1:3
  rwm" then "deny c 1:3 w" leaves "c 1:3 rm", so an open(O_RDWR) of 1:3 is
  denied and an open(O_RDONLY) allowed. In allow-all mode it is the
  reverse (deny adds to a deny exception, allow takes bits away);
- a deny (in deny-all mode) or allow (in allow-all mode) that would cut
  bits out of a wider wildcard exception ("allow c *:* m" then "deny c 1:3
  m") is refused. v1 silently ignores it (it only edits exceptions with
  the very same numbers), which would leave the device open while the
  config says otherwise; runc refuses it too.

A request (type, major, minor, access bits) is then allowed in deny-all
mode if ONE allow exception matches it and holds all its access bits, and
denied in allow-all mode if ANY deny exception matches it and shares one
of its access bits -- the v1 kernel's match_exception and
match_exception_partial.

Deliberate difference from runc: runc's program tests deny exceptions
like allow ones (request bits a subset of the exception's), so with "allow
a" then "deny c 1:3 w" it lets an open(O_RDWR) (access rw) of 1:3 through.
v1 denies it, and so do we.

Module imports stay minimal: this is on the container start path.
"""
import errno
import os
import struct

from .. import syscalls

# bpf(2) commands, program and attach types, flags (uapi/linux/bpf.h)
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2

# struct bpf_cgroup_dev_ctx: access_type = (access << 16) | type
DEV_BLOCK = 1
DEV_CHAR = 2
ACC_MKNOD = 1
ACC_READ = 2
ACC_WRITE = 4
ACC_ALL = ACC_MKNOD | ACC_READ | ACC_WRITE

_TYPES = {"b": DEV_BLOCK, "c": DEV_CHAR}
_ACCESS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}

# The kernel only asks for the license to gate GPL-only helpers; the
# program calls no helper at all, so pyrunc's own license will do.
LICENSE = b"Apache\0"
PROG_NAME = b"pyrunc_devices"
_LOG_SIZE = 1 << 16
# BPF_CGROUP_MAX_PROGS: the most programs one cgroup can hold per type
_MAX_PROGS = 64


def _invalid(message):
    return OSError(errno.EINVAL, message)


# ---- rules -> exception list (cgroup v1 semantics) ----

def _access_bits(rule, i):
    text = rule.get("access") or "rwm"
    bits = 0
    for ch in text:
        if ch not in _ACCESS:
            raise _invalid(f"rule {i}: invalid device access {text!r} (a subset of 'rwm')")
        bits |= _ACCESS[ch]
    return bits


def _number(rule, key, i):
    """None for a wildcard (absent, null or negative, as in OCI)."""
    v = rule.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v > 0xFFFFFFFF:
        raise _invalid(f"rule {i}: invalid device {key} {v!r}")
    return None if v < 0 else v


def _access_text(bits):
    return "".join(c for c, b in (("r", ACC_READ), ("w", ACC_WRITE), ("m", ACC_MKNOD)) if bits & b)


def _meta_text(meta):
    t, major, minor = meta
    star = lambda n: "*" if n is None else str(n)  # noqa: E731
    return f"{'b' if t == DEV_BLOCK else 'c'} {star(major)}:{star(minor)}"


def _remove(exceptions, meta, bits, i, allow):
    """Take bits away from the exception for exactly meta, refusing to cut
    a hole into a wider wildcard exception (see the module docstring)."""
    t, major, minor = meta
    for wider in ((t, None, minor), (t, major, None), (t, None, None)):
        if wider != meta and exceptions.get(wider, 0) & bits:
            verb = "allow" if allow else "deny"
            raise _invalid(
                f"rule {i} ({verb} {_meta_text(meta)} {_access_text(bits)}) would cut a hole "
                f"in the wildcard rule {_meta_text(wider)} {_access_text(exceptions[wider])}: "
                f"cgroup v1 silently ignores such a rule, so it is refused")
    left = exceptions.get(meta, 0) & ~bits
    if left:
        exceptions[meta] = left
    else:
        exceptions.pop(meta, None)


def reduce(rules):
    """(default_allow, [(type, major, minor, access bits), ...]): the
    exceptions the v1 devices controller would hold after the rules, in
    the order they were first added. major/minor None = wildcard."""
    default_allow = False
    exceptions = {}  # (type, major, minor) -> access bits; dicts keep order
    for i, rule in enumerate(rules):
        t = rule.get("type") or "a"
        if t == "a":
            default_allow, exceptions = bool(rule.get("allow")), {}
            continue
        if t not in _TYPES:
            raise _invalid(f"rule {i}: invalid device type {t!r} (a, b or c)")
        meta = (_TYPES[t], _number(rule, "major", i), _number(rule, "minor", i))
        bits = _access_bits(rule, i)
        if bool(rule.get("allow")) != default_allow:
            exceptions[meta] = exceptions.get(meta, 0) | bits
        else:
            _remove(exceptions, meta, bits, i, bool(rule.get("allow")))
    return default_allow, [m + (b,) for m, b in exceptions.items()]


# ---- a tiny eBPF assembler ----

# opcodes: class | operation | source (uapi/linux/bpf_common.h, bpf.h)
LDX_W = 0x61      # BPF_LDX | BPF_MEM | BPF_W
AND32_K = 0x54    # BPF_ALU | BPF_AND | BPF_K
RSH32_K = 0x74    # BPF_ALU | BPF_RSH | BPF_K
MOV32_K = 0xB4    # BPF_ALU | BPF_MOV | BPF_K
MOV32_X = 0xBC    # BPF_ALU | BPF_MOV | BPF_X
JEQ_K = 0x15      # BPF_JMP | BPF_JEQ | BPF_K
JNE_K = 0x55      # BPF_JMP | BPF_JNE | BPF_K
JNE_X = 0x5D      # BPF_JMP | BPF_JNE | BPF_X
EXIT = 0x95       # BPF_JMP | BPF_EXIT

# registers: r1 = ctx on entry, then scratch; r2 type, r3 access,
# r4 major, r5 minor; r0 the verdict
R0, R1, R2, R3, R4, R5 = range(6)


class _Asm:
    """Instructions as [opcode, dst, src, off, imm]; jumps to the end of
    the current rule's block are patched when the block ends."""

    def __init__(self):
        self.insns = []
        self.to_next = []

    def op(self, code, dst=0, src=0, off=0, imm=0):
        self.insns.append([code, dst, src, off, imm])

    def next_rule_if(self, code, dst, src=0, imm=0):
        """A conditional jump to the next rule's block."""
        self.to_next.append(len(self.insns))
        self.op(code, dst, src, 0, imm)

    def end_block(self):
        for at in self.to_next:
            self.insns[at][3] = len(self.insns) - at - 1  # pc += 1 + off
        self.to_next = []

    def verdict(self, allow):
        self.op(MOV32_K, R0, imm=1 if allow else 0)
        self.op(EXIT)

    def encode(self):
        return b"".join(struct.pack("<BBhi", c, (s << 4) | d, off, imm)
                        for c, d, s, off, imm in self.insns)


def _next_rule_unless_equal(a, reg, value):
    if value < 0x80000000:
        a.next_rule_if(JNE_K, reg, imm=value)
    else:
        # a jump's immediate is sign-extended to 64 bits while the loaded
        # u32 is zero-extended: compare with a register holding the value
        # (a 32-bit mov zero-extends) instead
        a.op(MOV32_K, R1, imm=value - (1 << 32))
        a.next_rule_if(JNE_X, reg, src=R1)


def _rule_block(a, t, major, minor, bits, allow):
    a.next_rule_if(JNE_K, R2, imm=t)
    if allow and bits != ACC_ALL:
        # an allow exception must hold every requested bit: r3 & bits == r3
        a.op(MOV32_X, R1, R3)
        a.op(AND32_K, R1, imm=bits)
        a.next_rule_if(JNE_X, R1, src=R3)
    elif not allow:
        # a deny exception matches as soon as it shares one requested bit
        # (so a request with no bits, access(2) probing, is never denied)
        if bits != ACC_ALL:
            a.op(MOV32_X, R1, R3)
            a.op(AND32_K, R1, imm=bits)
            a.next_rule_if(JEQ_K, R1, imm=0)
        else:
            a.next_rule_if(JEQ_K, R3, imm=0)
    if major is not None:
        _next_rule_unless_equal(a, R4, major)
    if minor is not None:
        _next_rule_unless_equal(a, R5, minor)
    a.verdict(allow)
    a.end_block()


def compile(rules):
    """The eBPF program (bytes, 8 per instruction) enforcing the OCI
    linux.resources.devices rules with cgroup v1 semantics (see the module
    docstring). OSError(EINVAL) for an invalid rule."""
    default_allow, exceptions = reduce(rules)
    a = _Asm()
    a.op(LDX_W, R2, R1, 0)
    a.op(AND32_K, R2, imm=0xFFFF)
    a.op(LDX_W, R3, R1, 0)
    a.op(RSH32_K, R3, imm=16)
    a.op(LDX_W, R4, R1, 4)
    a.op(LDX_W, R5, R1, 8)
    # every exception has the same verdict (the opposite of the default),
    # so their order does not matter; the newest goes first, as the last
    # rule written is the one that decides
    for t, major, minor, bits in reversed(exceptions):
        _rule_block(a, t, major, minor, bits, not default_allow)
    a.verdict(default_allow)
    return a.encode()


# ---- the kernel side ----

def _bpf(cmd, attr):
    return syscalls.bpf(cmd, attr)


def _prog_load(prog, log_size):
    keep_insns, insns = syscalls.buffer_address(prog)
    keep_lic, lic = syscalls.buffer_address(LICENSE)
    log = bytearray(log_size)
    keep_log, log_addr = syscalls.buffer_address(log) if log_size else (None, 0)
    attr = bytearray(struct.pack(
        "<IIQQIIQII16sII", BPF_PROG_TYPE_CGROUP_DEVICE, len(prog) // 8, insns, lic,
        1 if log_size else 0, log_size, log_addr, 0, 0, PROG_NAME, 0, 0))
    try:
        return _bpf(BPF_PROG_LOAD, attr), ""
    except OSError as e:
        return e, log.split(b"\0", 1)[0].decode(errors="replace").strip()
    finally:
        del keep_insns, keep_lic, keep_log


def load(prog):
    """Load a device program into the kernel: its fd (the caller closes
    it). OSError with the verifier's log on refusal."""
    if not prog or len(prog) % 8:
        raise _invalid(f"a BPF program is a non-empty multiple of 8 bytes, not {len(prog)}")
    fd, _ = _prog_load(prog, 0)
    if isinstance(fd, int):
        return fd
    # again with a log, only now: the verifier's log costs time on success.
    # The first error is the one to report (a log overflowing its buffer
    # turns the second into ENOSPC).
    err = fd
    fd, log = _prog_load(prog, _LOG_SIZE)
    if isinstance(fd, int):
        return fd
    message = f"loading the device filter (BPF_PROG_LOAD): {err.strerror}"
    raise OSError(err.errno, message + (f"; verifier: {log}" if log else ""))


def _query(cg):
    """Ids of the device programs attached to the cgroup fd itself."""
    n = _MAX_PROGS
    for _ in range(4):
        ids = bytearray(4 * n)
        keep, addr = syscalls.buffer_address(ids)
        attr = bytearray(struct.pack("<IIIIQII", cg, BPF_CGROUP_DEVICE, 0, 0, addr, n, 0))
        try:
            _bpf(BPF_PROG_QUERY, attr)
        except OSError as e:
            if e.errno != errno.ENOSPC:  # more than n: n is now the count
                raise OSError(e.errno, f"listing the cgroup's device filters "
                                       f"(BPF_PROG_QUERY): {e.strerror}") from None
        count = struct.unpack_from("<I", attr, 24)[0]
        del keep
        if count <= n:
            return list(struct.unpack_from(f"<{count}I", ids))
        n = count
    raise OSError(errno.EAGAIN, "listing the cgroup's device filters: their number keeps changing")


def _attach_attr(cg, prog_fd, flags):
    return bytearray(struct.pack("<IIIII", cg, prog_fd, BPF_CGROUP_DEVICE, flags, 0))


def _detach_ids(cg, ids):
    for prog_id in ids:
        try:
            fd = _bpf(BPF_PROG_GET_FD_BY_ID, bytearray(struct.pack("<III", prog_id, 0, 0)))
        except OSError as e:
            # gone already, or one we may not touch (an LSM's label): programs
            # only ever add restrictions, so leaving it is safe, as runc does
            if e.errno in (errno.ENOENT, errno.EPERM, errno.EACCES):
                continue
            raise OSError(e.errno, f"opening the old device filter {prog_id} "
                                   f"(BPF_PROG_GET_FD_BY_ID): {e.strerror}") from None
        try:
            _bpf(BPF_PROG_DETACH, _attach_attr(cg, fd, 0))
        except OSError as e:
            if e.errno != errno.ENOENT:  # detached meanwhile
                raise OSError(e.errno, f"detaching the old device filter {prog_id} "
                                       f"(BPF_PROG_DETACH): {e.strerror}") from None
        finally:
            os.close(fd)


def _open_cgroup(cgroup_dir):
    try:
        return os.open(cgroup_dir, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise OSError(e.errno, f"opening the cgroup {cgroup_dir}: {e.strerror}") from None


def attach(cgroup_dir, rules):
    """Make the device rules those of the cgroup v2 directory: attach the
    new program, then detach the ones attached before. Both run in
    between and the kernel wants every program to allow, so an update
    never opens a device that neither the old nor the new rules allow."""
    prog = compile(rules)
    cg = _open_cgroup(cgroup_dir)
    try:
        fd = load(prog)
        try:
            old = _query(cg)
            try:
                _bpf(BPF_PROG_ATTACH, _attach_attr(cg, fd, BPF_F_ALLOW_MULTI))
            except OSError as e:
                raise OSError(e.errno, f"attaching the device filter to {cgroup_dir} "
                                       f"(BPF_PROG_ATTACH): {e.strerror}") from None
        finally:
            os.close(fd)  # the cgroup holds the program now
        _detach_ids(cg, old)
    finally:
        os.close(cg)


def attached(cgroup_dir):
    """Ids of the device programs attached to the cgroup directory."""
    cg = _open_cgroup(cgroup_dir)
    try:
        return _query(cg)
    finally:
        os.close(cg)


def detach_all(cgroup_dir):
    """Detach every device program attached to the cgroup directory."""
    cg = _open_cgroup(cgroup_dir)
    try:
        _detach_ids(cg, _query(cg))
    finally:
        os.close(cg)
