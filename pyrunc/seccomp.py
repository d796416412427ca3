"""linux.seccomp: the filter, built with libseccomp, as a BPF program.

The program is compiled in the runtime (before the fork) and handed to the
init as bytes; the init loads it with seccomp(2) as late as it can (see
execinit.py). Compiling a large profile costs milliseconds, so the result
is cached under the state root, keyed by a hash of the profile.
"""
import os

from .errors import ConfigError

ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000,
    "SCMP_ACT_NOTIFY": 0x7FC00000,
}
OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
       "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
# runc accepts TSYNC and passes nothing for it (the init has one thread;
# TSYNC with NEW_LISTENER would be EINVAL)
FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 0, "SECCOMP_FILTER_FLAG_LOG": 2,
         "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32}
EPERM = 1
SCMP_FLTATR_CTL_NNP = 3
SCMP_FLTATR_API_TSKIP = 5
ENOSYS = 38
# what the -ENOSYS stub looks at (struct seccomp_data: nr, then arch)
X32_SYSCALL_BIT = 0x40000000
AUDIT_ARCH_X86_64 = 0xC000003E
SCMP_ARCH_X32 = 0x4000003E
CACHE_VERSION = b"enosys-stub-1"  # part of the cache key: bump when the output changes


def _action(name, errno_ret, default_errno, where):
    code = ACTIONS.get(name)
    if code is None:
        raise ConfigError(where, f"unknown seccomp action {name!r}")
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        value = errno_ret if errno_ret is not None else default_errno
        code |= value & 0xFFFF
    return code


def _arch_name(arch):
    # "SCMP_ARCH_X86_64" -> "x86_64", as libseccomp spells them
    return arch[len("SCMP_ARCH_"):].lower() if arch.startswith("SCMP_ARCH_") else arch.lower()


def compile_bpf(sc_cfg, cache_dir=None):
    """(program bytes, seccomp(2) flags) for a linux.seccomp object."""
    flags = 0
    for i, f in enumerate(sc_cfg.get("flags") or ()):
        bit = FLAGS.get(f)
        if bit is None:
            raise ConfigError(f"linux.seccomp.flags[{i}]", f"unknown seccomp flag {f!r}")
        flags |= bit
    _check_notify(sc_cfg)
    if uses_notify(sc_cfg) and not sc_cfg.get("listenerPath"):
        raise ConfigError("linux.seccomp.listenerPath", "is required with SCMP_ACT_NOTIFY")
    key = None
    if cache_dir:
        import _sha256
        from . import jsonlite
        key = _sha256.sha256(jsonlite.dumps(sc_cfg).encode() + os.uname().machine.encode()
                             + CACHE_VERSION).hexdigest()
        try:
            with open(os.path.join(cache_dir, key + ".bpf"), "rb") as f:
                return f.read(), flags
        except OSError:
            pass
    prog = _build(sc_cfg)
    if key:
        _cache_store(cache_dir, key, prog)
    return prog, flags


def _check_notify(sc_cfg):
    """runc's limits on SCMP_ACT_NOTIFY."""
    if sc_cfg.get("defaultAction") == "SCMP_ACT_NOTIFY":
        raise ConfigError("linux.seccomp.defaultAction",
                          "SCMP_ACT_NOTIFY cannot be used as default action")
    for i, r in enumerate(sc_cfg.get("syscalls") or ()):
        if r.get("action") == "SCMP_ACT_NOTIFY" and "write" in (r.get("names") or ()):
            raise ConfigError(f"linux.seccomp.syscalls[{i}].names",
                              "SCMP_ACT_NOTIFY cannot be used for the write syscall")


def uses_notify(sc_cfg):
    return sc_cfg.get("defaultAction") == "SCMP_ACT_NOTIFY" or any(
        r.get("action") == "SCMP_ACT_NOTIFY" for r in sc_cfg.get("syscalls") or ())


SECCOMP_FILTER_FLAG_NEW_LISTENER = 8


class Listener:
    """SCMP_ACT_NOTIFY: the agent at listenerPath gets the notify fd, with
    the container process state (runtime-spec "Container process state"),
    over one connection made by the runtime before the fork (the path is
    on the host; the init sends once it has loaded the filter)."""

    __slots__ = ("fd", "metadata", "state")

    def __init__(self, path, metadata, state):
        import _socket
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC, 0)
        try:
            s.connect(path)
        except OSError as e:
            s.close()
            # (runc's wording)
            raise ConfigError("linux.seccomp.listenerPath",
                              "failed to connect with seccomp agent specified in the seccomp "
                              f"profile: dial unix {path}: connect: "
                              f"{(e.strerror or str(e)).lower()}") from None
        self.fd = s.detach()
        self.metadata = metadata or ""
        self.state = state

    def send(self, notify_fd, pid):
        import _socket
        import struct
        from . import jsonlite
        # pid: the process that loaded the filter; state.pid stays the
        # container's init (set already for an exec; ours for a create)
        state = dict(self.state)
        if not state.get("pid"):
            state["pid"] = pid
        msg = {"ociVersion": state["ociVersion"], "fds": ["seccompFd"], "pid": pid,
               "metadata": self.metadata, "state": state}
        s = _socket.socket(fileno=self.fd)
        try:
            s.sendmsg([jsonlite.dumps(msg).encode()],
                      [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", notify_fd))])
        finally:
            s.close()
            os.close(notify_fd)


def _cache_store(cache_dir, key, prog):
    try:
        os.makedirs(cache_dir, 0o700, exist_ok=True)
        tmp = os.path.join(cache_dir, f".{key}.{os.getpid()}")
        with open(tmp, "wb") as f:
            f.write(prog)
        os.rename(tmp, os.path.join(cache_dir, key + ".bpf"))
    except OSError:
        pass  # a cache, nothing more


def _build(sc_cfg):
    from ._seccomp import ffi, lib
    default_errno = sc_cfg.get("defaultErrnoRet")
    default_errno = EPERM if default_errno is None else default_errno
    default = _action(sc_cfg["defaultAction"], sc_cfg.get("defaultErrnoRet"), EPERM,
                      "linux.seccomp.defaultAction")
    ctx = lib.seccomp_init(default)
    if ctx == ffi.NULL:
        raise ConfigError("linux.seccomp.defaultAction", "libseccomp refused the default action")
    try:
        # pyrunc sets no_new_privs itself, from process.noNewPrivileges
        lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)
        for i, arch in enumerate(sc_cfg.get("architectures") or ()):
            token = lib.seccomp_arch_resolve_name(_arch_name(arch).encode())
            if token == 0:
                raise ConfigError(f"linux.seccomp.architectures[{i}]", f"unknown architecture {arch!r}")
            ret = lib.seccomp_arch_add(ctx, token)
            if ret < 0 and ret != -17:  # EEXIST: the native one is already there
                raise ConfigError(f"linux.seccomp.architectures[{i}]",
                                  f"cannot add {arch}: {os.strerror(-ret)}")
        for i, rule in enumerate(sc_cfg.get("syscalls") or ()):
            _add_rule(ffi, lib, ctx, rule, default, default_errno, f"linux.seccomp.syscalls[{i}]")
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            ret = lib.seccomp_export_bpf(ctx, w)
            os.close(w)
            w = -1
            if ret < 0:
                raise ConfigError("linux.seccomp", f"cannot export the filter: {os.strerror(-ret)}")
            chunks = []
            while True:
                c = os.read(r, 65536)
                if not c:
                    break
                chunks.append(c)
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)
        return _enosys_stub(ffi, lib, sc_cfg) + b"".join(chunks)
    finally:
        lib.seccomp_release(ctx)


def _enosys_stub(ffi, lib, sc_cfg):
    """runc's -ENOSYS stub, put before libseccomp's program: a syscall
    numbered above the highest one the profile names (for the calling
    architecture) fails with ENOSYS instead of getting the default action,
    so that a libc falls back from a call newer than the profile (clone3,
    faccessat2...). Not when the default action lets calls through."""
    if sc_cfg.get("defaultAction") in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"):
        return b""
    tokens = {lib.seccomp_arch_native()}
    for arch in sc_cfg.get("architectures") or ():
        tokens.add(lib.seccomp_arch_resolve_name(_arch_name(arch).encode()))
    names = {n for r in sc_cfg.get("syscalls") or () for n in r.get("names") or ()}
    last = {}  # audit arch -> {token: highest syscall number}
    for token in sorted(tokens):
        top = max((lib.seccomp_syscall_resolve_name_arch(token, n.encode()) for n in names),
                  default=-1)
        if top > 0:
            audit = AUDIT_ARCH_X86_64 if token == SCMP_ARCH_X32 else token
            last.setdefault(audit, {})[token] = top
    if not last:
        return b""
    return _assemble_stub(last)


# classic BPF opcodes the stub uses
_LD_W_ABS, _JEQ_K, _JGT_K, _JSET_K, _JA, _RET_K = 0x20, 0x15, 0x25, 0x45, 0x05, 0x06


def _assemble_stub(last):
    """The stub's instructions: load the arch, jump to its section (or
    past the stub); a section loads nr and returns ENOSYS above the
    highest known number. Every section ends with a jump to the filter,
    so the conditional jumps stay short whatever the filter's size."""
    enosys = (_RET_K, 0, 0, ACTIONS["SCMP_ACT_ERRNO"] | ENOSYS)
    sections = []
    for audit, tops in sorted(last.items()):
        amd64, x32 = tops.get(AUDIT_ARCH_X86_64), tops.get(SCMP_ARCH_X32)
        ld = (_LD_W_ABS, 0, 0, 0)
        if audit != AUDIT_ARCH_X86_64:
            (top,) = tops.values()
            body = [ld, (_JGT_K, 0, 1, top), enosys]
        elif amd64 and x32:
            body = [ld, (_JSET_K, 0, 1, X32_SYSCALL_BIT), (_JGT_K, 1, 2, x32),
                    (_JGT_K, 0, 1, amd64), enosys]
        elif amd64:
            body = [ld, (_JSET_K, 2, 0, X32_SYSCALL_BIT), (_JGT_K, 0, 1, amd64), enosys]
        else:
            body = [ld, (_JSET_K, 0, 2, X32_SYSCALL_BIT), (_JGT_K, 0, 1, x32), enosys]
        sections.append((audit, body + [None]))  # None: the jump to the filter
    head = [(_LD_W_ABS, 0, 0, 4)]
    dispatch_len = len(sections) + 1  # one jeq per arch, then a jump past the stub
    for i, (audit, body) in enumerate(sections):
        # a jeq at index i of the dispatch: its section starts this far on
        jt = dispatch_len - i - 1 + sum(len(b) for _, b in sections[:i])
        if jt > 255:
            raise ConfigError("linux.seccomp.architectures", "too many architectures")
        head.append((_JEQ_K, jt, 0, audit))
    total = len(head) + 1 + sum(len(b) for _, b in sections)
    out = head + [(_JA, 0, 0, total - len(head) - 1)]
    for _, body in sections:
        for ins in body:
            if ins is None:
                ins = (_JA, 0, 0, total - len(out) - 1)
            out.append(ins)
    import struct
    return b"".join(struct.pack("=HBBI", *ins) for ins in out)


def _add_rule(ffi, lib, ctx, rule, default, default_errno, where):
    action = _action(rule["action"], rule.get("errnoRet"), default_errno, f"{where}.action")
    if action == default:
        return  # libseccomp refuses rules equal to the default; they change nothing
    conds = []
    for j, a in enumerate(rule.get("args") or ()):
        op = OPS.get(a["op"])
        if op is None:
            raise ConfigError(f"{where}.args[{j}].op", f"unknown operator {a['op']!r}")
        conds.append((a["index"], op, a["value"], a.get("valueTwo", 0)))
    # libseccomp takes one condition per argument index in a rule; several
    # on one index mean "any of them" (as runc reads them): one rule each
    indexes = [c[0] for c in conds]
    groups = [conds] if len(set(indexes)) == len(indexes) else [[c] for c in conds]
    for j, name in enumerate(rule.get("names") or ()):
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr == -1:  # __NR_SCMP_ERROR: unknown to this libseccomp/arch, skipped as runc does
            continue
        for group in groups:
            arr = ffi.new("struct scmp_arg_cmp[]", len(group) or 1)
            for k, (idx, op, va, vb) in enumerate(group):
                arr[k].arg = idx
                arr[k].op = op
                arr[k].datum_a = va
                arr[k].datum_b = vb
            ret = lib.seccomp_rule_add_array(ctx, action, nr, len(group), arr)
            if ret < 0:
                raise ConfigError(f"{where}.names[{j}]",
                                  f"cannot add a rule for {name}: {os.strerror(-ret)}")
