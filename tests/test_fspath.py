"""pyrunc.fspath: the short commands' os.path (without `import os`)
gives what posixpath gives, for str paths."""
import os

from pyrunc import fspath


def test_fspath_is_posixpath_for_str(tmp_path):
    paths_ = ["", "/", "//", "///", "a", "a/", "/a/b/", "//a//b", "///a/./b/../c", "a/../..",
              "../a", "./", "/..", "/a/..", "a//b/", "/run/pyrunc", ".", "..", "a/b/../../..",
              "/sys/fs/cgroup/freezer/x/"]
    for p in paths_:
        assert fspath.normpath(p) == os.path.normpath(p), p
        assert fspath.split(p) == os.path.split(p), p
        assert fspath.dirname(p) == os.path.dirname(p), p
        assert fspath.basename(p) == os.path.basename(p), p
        assert fspath.isabs(p) == os.path.isabs(p), p
        assert fspath.abspath(p or ".") == os.path.abspath(p or "."), p
        for q in ("b", "/b", "", "b/"):
            assert fspath.join(p, q) == os.path.join(p, q), (p, q)
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "f").write_text("")
    (tmp_path / "d" / "link").symlink_to(tmp_path / "d" / "e")
    for p in ("d", "d/e", "f", "d/link", "missing", "f/x"):
        full = str(tmp_path / p)
        assert (fspath.isdir(full), fspath.isfile(full), fspath.exists(full)) == \
            (os.path.isdir(full), os.path.isfile(full), os.path.exists(full)), p
    # os.walk's directories, top-down, symlinks not followed
    assert list(fspath.walk_dirs(str(tmp_path))) == [b for b, _, _ in os.walk(str(tmp_path))]
    assert list(fspath.walk_dirs(str(tmp_path / "missing"))) == []
