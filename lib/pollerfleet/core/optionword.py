"""The options word: several options in one argument, ``--options '-t 20 --tls-dir DIR'``.

Centreon passes an administrator's extra options in one custom macro (``DOCKEROPTIONS``,
``IMAGEOPTIONS``, ``RELEASEOPTIONS``, ``HANDLEROPTIONS``). The generated commands quote that
macro like every other one (commands/source.toml), so the shell hands it over as one word; the
plugin or handler splits it here (``shlex.split``, the shell's rules without the shell: nothing
in it is run or expanded) and parses the words with its own parser, as if they stood on the
command line after everything else. An empty word means no options.

What must never come from a macro is refused inside the word, with the reason:

- ``--config``: the configuration names the Jenkins and registry credentials, the audit log and
  the state that holds the redeploy budget and the circuit breaker. Every check and handler of an
  engine must use the same one (``--config`` on the command line, ``$POLLERFLEET_CONFIG`` in the
  engine's environment, or /etc/pollerfleet/fleet.toml), never one a host's macro picks.
- ``--options`` (no nesting), ``-h/--help`` and ``-V/--version`` (their output is not a status
  line), and ``--`` (the engine's macros of a handler come from the engine alone).
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at a plugin's start-up
if TYPE_CHECKING:
    from typing import Any, NoReturn, Optional, Sequence

OPTION = "--options"
CONFIG_REASON = (
    "the configuration is the engine's, the same for every check and handler "
    "(--config on the command line, $POLLERFLEET_CONFIG or /etc/pollerfleet/fleet.toml)"
)


class OptionWordParser(argparse.ArgumentParser):
    """An ArgumentParser that takes ``--options WORD`` (repeatable) and parses each WORD's options
    with itself. Subclasses say how a refusal ends in ``fail`` (an UNKNOWN line, a logged refusal)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        add_help = kwargs.get("add_help", True)
        kwargs["add_help"] = False  # our -h, which an options word may not give
        super().__init__(*args, **kwargs)
        self.word: Optional[str] = None  # the options word being parsed, while it is
        self.register("action", "version", _Version)
        if add_help:
            self.add_argument("-h", "--help", action=_Help, help="show this help message and exit")
        self.add_argument(
            OPTION,
            action=_AppendWord,
            default=[],
            metavar="'OPTIONS'",
            help="more of these options in one word, as a Centreon macro passes them, e.g. "
            "--options '-t 20 -v' ('' means none; not --config, which is the engine's)",
        )

    def parse_args(self, *args: Any, **kwargs: Any) -> Any:
        ns = super().parse_args(*args, **kwargs)
        for word in ns.options:
            self._parse_word(word, ns)
        return ns

    def _parse_word(self, word: str, ns: argparse.Namespace) -> None:
        import shlex

        self.word = word
        try:
            try:
                words = shlex.split(word)
            except ValueError as exc:  # No closing quotation, No escaped character
                self.error(str(exc))
            if "--" in words:
                self.error("'--' has no place in it")
            if not words:
                return
            positionals = [a.dest for a in self._actions if not a.option_strings]
            if not positionals:
                super().parse_args(words, ns)
                return
            # a handler's engine macros stay what the engine passed: given again, after '--'
            macros = [getattr(ns, dest) for dest in positionals]
            _, extra = super().parse_known_args([*words, "--", *macros], ns)
            if [getattr(ns, dest) for dest in positionals] != macros:
                self.error("it holds words that are no options (the engine's macros come from the engine alone)")
            if extra:
                self.error(f"unrecognized arguments: {' '.join(extra)}")
        finally:
            self.word = None

    def error(self, message: str) -> NoReturn:
        if self.word is not None:
            message = f"in {OPTION} {self.word!r}: {message}"
        self.fail(message)

    def fail(self, message: str) -> NoReturn:
        """How a refused call ends; argparse's usage and exit 2 unless a subclass says otherwise."""
        super().error(message)


def _refuse_in_a_word(parser: argparse.ArgumentParser, option: Optional[str], reason: str) -> None:
    if isinstance(parser, OptionWordParser) and parser.word is not None:
        parser.error(f"{option} cannot come from an options word: {reason}")


class FromTheCommandLine(argparse.Action):
    """A stored option that an options word may not give (``--config``)."""

    def __call__(
        self, parser: argparse.ArgumentParser, ns: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        _refuse_in_a_word(parser, option, CONFIG_REASON)
        setattr(ns, self.dest, values)


class _AppendWord(argparse.Action):
    def __call__(
        self, parser: argparse.ArgumentParser, ns: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        _refuse_in_a_word(parser, option, "one word holds options, not more words")
        if not isinstance(values, str) and isinstance(parser, OptionWordParser):
            # argparse before 3.13 turns --options=-- into []: the same refusal as 3.13's '--'
            parser.word = "--"
            parser.error("'--' has no place in it")
        setattr(ns, self.dest, [*(getattr(ns, self.dest, None) or []), values])


class _Help(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(
        self, parser: argparse.ArgumentParser, ns: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        _refuse_in_a_word(parser, option, "its output is no status line")
        parser.print_help()
        parser.exit()


class _Version(argparse.Action):
    def __init__(
        self, option_strings: Sequence[str], version: str = "", dest: str = argparse.SUPPRESS, **kwargs: Any
    ) -> None:
        kwargs.setdefault("help", "show program's version number and exit")
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, **kwargs)
        self.version = version

    def __call__(
        self, parser: argparse.ArgumentParser, ns: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        _refuse_in_a_word(parser, option, "its output is no status line")
        sys.stdout.write(self.version.replace("%(prog)s", parser.prog) + "\n")
        parser.exit()
