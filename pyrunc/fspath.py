"""The few path functions of os/os.path the short commands use, over
`posix` alone.

`python3 -I -S` starts without `os`: importing it (with `stat`,
`posixpath` and `_collections_abc`, for os.environ's Mapping) costs ~4M
instructions, about as much as the rest of a `state`. The modules on the
short commands' path (state, list, kill, pause, resume, ps) therefore
call `posix` directly, and these helpers where they need os.path. Each
behaves as its posixpath namesake does for str paths (tests/test_units.py
compares them).
"""
import posix

_S_IFMT, _S_IFDIR, _S_IFREG = 0o170000, 0o040000, 0o100000


def join(a, *p):
    path = a
    for b in p:
        if b.startswith("/"):
            path = b
        elif not path or path.endswith("/"):
            path += b
        else:
            path += "/" + b
    return path


def normpath(path):
    if not path:
        return "."
    lead = 2 if path.startswith("//") and not path.startswith("///") else \
        1 if path.startswith("/") else 0  # (POSIX keeps exactly two leading slashes)
    out = []
    for c in path.split("/"):
        if c in ("", "."):
            continue
        if c != ".." or (not lead and not out) or (out and out[-1] == ".."):
            out.append(c)
        elif out:
            out.pop()
    return "/" * lead + "/".join(out) or "."


def abspath(path):
    if not path.startswith("/"):
        path = join(posix.getcwd(), path)
    return normpath(path)


def split(path):
    i = path.rfind("/") + 1
    head, tail = path[:i], path[i:]
    if head and head != "/" * len(head):
        head = head.rstrip("/")
    return head, tail


def dirname(path):
    return split(path)[0]


def basename(path):
    return split(path)[1]


def isabs(path):
    return path.startswith("/")


def _mode(path, stat=posix.stat):
    try:
        return stat(path).st_mode & _S_IFMT
    except (OSError, ValueError):
        return None


def isdir(path):
    return _mode(path) == _S_IFDIR


def isfile(path):
    return _mode(path) == _S_IFREG


def exists(path):
    return _mode(path) is not None


def walk_dirs(top):
    """Every directory under `top`, `top` first (os.walk's dirpaths,
    top-down; symlinks are not followed; unreadable ones are skipped)."""
    todo = [top]
    while todo:
        d = todo.pop()
        try:
            with posix.scandir(d) as it:
                sub = [e.path for e in it if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        yield d
        todo.extend(reversed(sub))
