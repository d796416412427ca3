"""Help pages, `--version`, man pages and bash completion, all generated
from cli.py's command table (the one the parser uses), so that no page can
list a flag the parser does not know or miss one it does.

Only imported when one of them is asked for (or at build time, when
setup.py writes the man pages and the completion into the package)."""
import os
import sys
import textwrap

from . import __version__, OCI_VERSION
from .cli import ALIASES, COMMAND_TABLE, GLOBAL_FLAGS

NAME = "pyrunc"
SUMMARY = "an OCI container runtime written in Python (runc's command line)"
ABOUT = """\
pyrunc runs containers from OCI bundles: a directory with a config.json
and the root filesystem it names. It takes runc's commands, flags and exit
codes, so podman, containerd, Docker or CRI-O can use it in runc's place.

To run a container from the bundle in the current directory:

    # pyrunc run [--bundle DIR] <container-id>

<container-id> names the instance; it must be unique under --root."""
HELP_FLAG = ("--help, -h", "help", False, "show this help")
INDENT = "   "


def version():
    """runc's shape: the version, then one "name: value" line each."""
    return (f"{NAME} version {__version__}\ncommit: {_commit()}\nspec: {OCI_VERSION}\n"
            f"python: {'.'.join(map(str, sys.version_info[:3]))}\n"
            f"libseccomp: {_libseccomp()}\n")


def _commit():
    try:
        from ._buildinfo import COMMIT  # written by setup.py from `git describe`
    except ImportError:
        return "unknown"
    return COMMIT or "unknown"


def _libseccomp():
    try:
        from ._seccomp import lib
    except ImportError:
        return "none"
    v = lib.seccomp_version()
    return f"{v.major}.{v.minor}.{v.micro}"


def commands():
    """The command names, sorted, as listed."""
    return sorted(COMMAND_TABLE)


def _names(names, kind):
    """'--bundle, -b' -> '--bundle value, -b value' for a flag with a value."""
    if not kind:
        return names
    return ", ".join(n + " value" for n in names.split(", "))


def _table(rows):
    """Two columns, the first as wide as its widest entry."""
    width = max(len(a) for a, _ in rows)
    return "".join(f"{INDENT}{a.ljust(width)}  {b}".rstrip() + "\n" for a, b in rows)


def _wrap(text):
    return "\n".join(textwrap.fill(p, 76, initial_indent=INDENT, subsequent_indent=INDENT)
                     for p in text.split("\n\n")) + "\n"


def page(cmd):
    """The help page: the global one (cmd None) or one command's."""
    if cmd is None:
        aliases = {}
        for a, c in ALIASES.items():
            aliases.setdefault(c, []).append(a)
        rows = [(", ".join([c] + aliases.get(c, [])), COMMAND_TABLE[c][0]) for c in commands()]
        return (f"NAME:\n{INDENT}{NAME} - {SUMMARY}\n\n{ABOUT}\n\n"
                f"USAGE:\n{INDENT}{NAME} [global options] command [command options] "
                "[arguments...]\n\n"
                "VERSION:\n" + INDENT + version().split(" version ", 1)[1] + "\n"
                "COMMANDS:\n" + _table(rows) + "\n"
                "GLOBAL OPTIONS:\n" + _table([(_names(n, k), h) for n, _, k, h in GLOBAL_FLAGS]))
    summary, args, desc, flags = COMMAND_TABLE[cmd]
    usage = f"{NAME} {cmd}" + (" [command options]" if flags else "") + (f" {args}" if args
                                                                         else "")
    out = f"NAME:\n{INDENT}{NAME} {cmd} - {summary}\n\nUSAGE:\n{INDENT}{usage}\n\n"
    if desc:
        out += "DESCRIPTION:\n" + _wrap(desc) + "\n"
    rows = [(_names(n, k), h) for n, _, k, h in flags + (HELP_FLAG,)]
    return out + "OPTIONS:\n" + _table(rows)


# -- man pages --------------------------------------------------------------
def _roff(text):
    """Plain text as troff: backslashes and hyphens escaped, no line
    starting with a control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + ln if ln[:1] in (".", "'") else ln for ln in text.split("\n"))


def _man_flags(flags):
    return "".join(f".TP\n.B {_roff(_names(n, k))}\n{_roff(h)}\n" for n, _, k, h in flags)


def manpage(cmd):
    """pyrunc(8), or pyrunc-CMD(8)."""
    title = NAME if cmd is None else f"{NAME}-{cmd}"
    head = f'.TH {title.upper()} 8 "" "{NAME} {__version__}" "System Administration"\n'
    if cmd is None:
        return (head + f".SH NAME\n{NAME} \\- {_roff(SUMMARY)}\n"
                f".SH SYNOPSIS\n.B {NAME}\n[global options] command [command options] "
                "[arguments...]\n"
                f".SH DESCRIPTION\n.nf\n{_roff(ABOUT)}\n.fi\n"
                ".SH COMMANDS\n" + "".join(
                    f".TP\n.BR {NAME}\\-{c} (8)\n{_roff(COMMAND_TABLE[c][0])}\n"
                    for c in commands()) +
                ".SH GLOBAL OPTIONS\n" + _man_flags(GLOBAL_FLAGS) +
                ".SH SEE ALSO\n.BR runc (8)\n")
    summary, args, desc, flags = COMMAND_TABLE[cmd]
    return (head + f".SH NAME\n{title} \\- {_roff(summary)}\n"
            f".SH SYNOPSIS\n.B {NAME} {cmd}\n" +
            ("[command options] " if flags else "") + _roff(args) + "\n" +
            (f".SH DESCRIPTION\n{_roff(desc)}\n" if desc else "") +
            ".SH OPTIONS\n" + _man_flags(flags + (HELP_FLAG,)) +
            f".SH SEE ALSO\n.BR {NAME} (8)\n")


# -- bash completion --------------------------------------------------------
def bash_completion():
    def words(flags):
        return " ".join(n for names, _, _, _ in flags for n in names.split(", "))
    valued = "|".join(n for names, _, k, _ in GLOBAL_FLAGS if k for n in names.split(", "))
    cases = "".join(
        f"\t{c}) flags=\"{words(COMMAND_TABLE[c][3] + (HELP_FLAG,))}\"; "
        f"ids={1 if COMMAND_TABLE[c][1].startswith('<container-id>') else 0} ;;\n"
        for c in commands())
    return f"""# bash completion for pyrunc (generated from its command table)
_pyrunc() {{
	local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}}
	local i w cmd="" flags ids=0
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${{COMP_WORDS[i]}}
		case $w in
		{valued}) ((i++)) ;;
		-*) ;;
		*) cmd=$w; break ;;
		esac
	done
	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "{words(GLOBAL_FLAGS)}" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "{' '.join(commands() + sorted(ALIASES))}" -- "$cur"))
		fi
		return
	fi
	case $cmd in
{cases}	*) return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
	elif [[ $cmd == help || $cmd == h ]]; then
		COMPREPLY=($(compgen -W "{' '.join(commands())}" -- "$cur"))
	elif ((ids)) && [[ $prev != -* || $prev == *=* ]]; then
		COMPREPLY=($(compgen -W "$(pyrunc list -q 2>/dev/null)" -- "$cur"))
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}}
complete -F _pyrunc pyrunc
"""


def write_docs(pkg_dir):
    """At build time: man/*.8 and completion/pyrunc.bash in the package."""
    man = os.path.join(pkg_dir, "man")
    os.makedirs(man, exist_ok=True)
    for cmd in [None] + commands():
        name = NAME if cmd is None else f"{NAME}-{cmd}"
        with open(os.path.join(man, name + ".8"), "w") as f:
            f.write(manpage(cmd))
    comp = os.path.join(pkg_dir, "completion")
    os.makedirs(comp, exist_ok=True)
    with open(os.path.join(comp, "pyrunc.bash"), "w") as f:
        f.write(bash_completion())
