"""Build: the cffi C shim (pyrunc._shim), the static execinit helper
(pyrunc/_execinit) and the config/state validators compiled from spec/."""
import os
import subprocess
import sys

from setuptools import Command, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from distutils.command.build_scripts import build_scripts  # (setuptools' own)

HERE = os.path.dirname(os.path.abspath(__file__))

HELPER_CFLAGS = ["-static", "-nostdlib", "-Os", "-fno-stack-protector",
                 "-fno-asynchronous-unwind-tables", "-fno-builtin", "-Wall",
                 "-Wl,--build-id=none", "-s"]


def build_generated(pkg_dir):
    """Write the generated parts of the package into pkg_dir."""
    cc = os.environ.get("CC", "gcc")
    out = os.path.join(pkg_dir, "_execinit")
    subprocess.check_call([cc] + HELPER_CFLAGS + ["-o", out,
                          os.path.join(HERE, "csrc", "execinit.c")])
    sys.path.insert(0, HERE)
    try:
        from pyrunc import schemagen
    finally:
        sys.path.pop(0)
    for name, schema in (("_configcheck.py", "config-schema.json"),
                         ("_statecheck.py", "state-schema.json")):
        src = schemagen.generate(os.path.join(HERE, "spec", schema))
        with open(os.path.join(pkg_dir, name), "w") as f:
            f.write(src)
    with open(os.path.join(pkg_dir, "_buildinfo.py"), "w") as f:
        f.write(f"COMMIT = {commit()!r}\n")
    # man pages and bash completion, from the command table the parser uses
    sys.path.insert(0, HERE)
    try:
        from pyrunc import clihelp
    finally:
        sys.path.pop(0)
    clihelp.write_docs(pkg_dir)


def commit():
    """`git describe` of the checkout, or what the sdist recorded (COMMIT)."""
    if os.path.exists(os.path.join(HERE, ".git")):
        try:
            return subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"],
                                  capture_output=True, text=True,
                                  check=True).stdout.strip() or "unknown"
        except (OSError, subprocess.CalledProcessError):
            return "unknown"
    try:
        with open(os.path.join(HERE, "COMMIT")) as f:
            return f.read().strip() or "unknown"
    except OSError:
        return "unknown"


class Sdist(sdist):
    """The sdist records the commit it was made from (it has no .git)."""
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        path = os.path.join(base_dir, "COMMIT")
        if os.path.exists(path):
            os.unlink(path)  # a hard link to the checkout's, if any
        with open(path, "w") as f:
            f.write(commit() + "\n")


class BuildPy(build_py):
    def run(self):
        super().run()
        build_generated(os.path.join(self.build_lib, "pyrunc"))


class BuildScripts(build_scripts):
    """The installed `pyrunc` is csrc/launcher.c, compiled here (static, no
    libc): it execs the venv's python3 (else the interpreter this wheel is
    built for) with -I -S. No installer rewrites a binary, and it costs
    neither a /bin/sh start nor a script re-read by Python. bin/pyrunc, the
    sh launcher, is the source of `scripts=` and what a checkout runs."""
    def run(self):
        super().run()
        ver = f"{sys.version_info[0]}.{sys.version_info[1]}"
        # the base interpreter, not a build venv's (gone once built)
        fallback = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
        cc = os.environ.get("CC", "gcc")
        subprocess.check_call([cc] + HELPER_CFLAGS + [
            f'-DPY_VERSION="{ver}"', f'-DPY_FALLBACK="{fallback}"',
            "-o", os.path.join(self.build_dir, "pyrunc"),
            os.path.join(HERE, "csrc", "launcher.c")])


class BuildInplace(Command):
    """`python setup.py build_inplace`: everything generated, in ./pyrunc
    (for working from a checkout)."""
    user_options = []

    def initialize_options(self):
        pass

    def finalize_options(self):
        pass

    def run(self):
        # the builders name their C sources relative to the checkout, and
        # cffi compiles in tmpdir: build from and into the checkout itself
        # (the .c/.o it leaves are in .gitignore)
        os.chdir(HERE)
        sys.path.insert(0, os.path.join(HERE, "csrc"))
        import build_seccomp
        import build_shim
        for b in (build_shim.ffibuilder, build_seccomp.ffibuilder):
            b.compile(tmpdir=HERE, verbose=False)
        build_generated(os.path.join(HERE, "pyrunc"))


# The project's metadata (name, version, dependencies, licence) is in
# pyproject.toml; here only what needs code: the C parts and generated files.
setup(
    packages=["pyrunc", "pyrunc.cgroups"],
    package_data={"pyrunc": ["_execinit", "py.typed"]},
    scripts=["bin/pyrunc"],
    cffi_modules=["csrc/build_shim.py:ffibuilder", "csrc/build_seccomp.py:ffibuilder"],
    cmdclass={"build_py": BuildPy, "build_scripts": BuildScripts, "sdist": Sdist,
              "build_inplace": BuildInplace},
    zip_safe=False,
)
