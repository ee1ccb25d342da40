"""What the web console accepts as a command line, decided before anything runs.

The console runs ``plat`` command lines for a signed-in person, on the daemon's host, through
the CLI's own runner. The person must never get more than the CLI would give them from their
own laptop: no shell (a line is split as a shell would, but nothing is expanded or run but
``plat``), no other identity or daemon (``--api``, ``--token`` are refused: the console gives
each command the person's own short-lived token and this daemon), nothing that writes or reads
the host's disk (``init`` writes a file there; files come from the session's uploads), and no
sign-in or daemon administration (``login``, ``logout``, ``daemon``). Everything else is every
``plat`` command, with the CLI's words. Pure: standard library and the runner's table only.
"""

from __future__ import annotations

from dataclasses import dataclass

from platd.spec.errors import InvalidInput
from tui.cli.runner import COMMAND_MODULES, split

MAX_LINE = 4096  # characters in one command line
MAX_WORDS = 256
# Options that change who a command acts as or which daemon it talks to. argparse accepts a
# unique prefix of an option (``--tok``), so prefixes down to four characters are refused too.
IDENTITY_OPTIONS = ("--api", "--token")
REFUSED = {
    "login": "the console is already signed in as you; plat login is for a terminal",
    "logout": "sign out of the console with its Sign out button",
    "daemon": "platd is run on its host, not from the console",
    "init": "plat init writes plat.toml on the disk of the machine it runs on; run it on "
            "yours, then upload the file",
}
VERBS = tuple(sorted(set(COMMAND_MODULES) - set(REFUSED)))


@dataclass(frozen=True)
class Line:
    words: list[str]

    @property
    def verb(self) -> str:
        return self.words[0]


def _identity_option(word: str) -> str | None:
    name = word.split("=", 1)[0]
    if not name.startswith("--") or len(name) < 4:
        return None
    for option in IDENTITY_OPTIONS:
        if name == option or option.startswith(name) or name.startswith(option):
            return option
    return None


def parse_line(text: str) -> Line | None:
    """The words of a console line; None for a blank line. Refusals are ``InvalidInput``
    whose message says what is wrong and whose hint says what to do instead."""
    if len(text) > MAX_LINE:
        raise InvalidInput(f"the command line is longer than {MAX_LINE} characters",
                           hint="put long values in a file and upload it (the Upload button)")
    if any(c in text for c in "\r\n\0"):
        raise InvalidInput("a command line is one line of text",
                           hint="type one command at a time")
    if not text.strip():
        return None
    try:
        words = split(text)  # a leading "plat" is dropped
    except InvalidInput as e:  # an unclosed quote
        raise InvalidInput(e.message, hint="close the quote, or escape it with a backslash "
                           "(the line is split as a shell would)") from None
    if not words:
        raise InvalidInput("no command given", hint="type a plat command, e.g. status")
    if len(words) > MAX_WORDS:
        raise InvalidInput(f"the command line has more than {MAX_WORDS} words",
                           hint="split it into several commands")
    verb = words[0]
    if verb == "help":  # what a person types first: the CLI's own help (of a command)
        words = [*words[1:], "--help"]
        verb = words[0]
    if verb in REFUSED:
        raise InvalidInput(f"plat {verb} is not available in the web console",
                           hint=REFUSED[verb])
    for word in words:
        if word == "--":
            break
        option = _identity_option(word)
        if option is not None:
            raise InvalidInput(
                f"{option} is not allowed in the web console: commands run as you, on this "
                "daemon", hint=f"run the command again without {option}")
    if verb not in COMMAND_MODULES and verb not in ("-h", "--help", "--version"):
        raise InvalidInput(
            f"{verb!r} is not a plat command; the console runs plat commands only",
            hint="type help for the list (a line may start with plat or without it)")
    return Line(words)
