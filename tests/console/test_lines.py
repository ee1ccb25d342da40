"""What the console accepts as a command line (``platd.console.lines``) and what a session
keeps (``platd.console.sessions``): pure logic, no daemon."""

from __future__ import annotations

import pytest

from platd.console.lines import MAX_LINE, VERBS, parse_line
from platd.console.sessions import (
    MAX_BLOCK_OUTPUT,
    MAX_BLOCKS,
    MAX_SESSION_OUTPUT,
    MAX_UPLOAD,
    MAX_UPLOADS,
    TICKET_TTL,
    ConsoleSessions,
)
from platd.spec.errors import InvalidInput


@pytest.mark.parametrize(("line", "words"), [
    ("status", ["status"]),
    ("plat status", ["status"]),
    ("  deploy -f plat.toml --target a/b/c/d ", ["deploy", "-f", "plat.toml", "--target",
                                                  "a/b/c/d"]),
    ("config set 'GREETING=hello world'", ["config", "set", "GREETING=hello world"]),
    ("exec web -- sh -c 'echo --token'", ["exec", "web", "--", "sh", "-c", "echo --token"]),
    ("help", ["--help"]),
    ("help deploy", ["deploy", "--help"]),
    ("tokens list", ["tokens", "list"]),
    ("logs web --follow", ["logs", "web", "--follow"]),
])
def test_lines_the_console_runs(line: str, words: list[str]) -> None:
    parsed = parse_line(line)
    assert parsed is not None
    assert parsed.words == words


@pytest.mark.parametrize("line", ["", "   ", "\t"])
def test_a_blank_line_runs_nothing(line: str) -> None:
    assert parse_line(line) is None


@pytest.mark.parametrize(("line", "message"), [
    ("login --api http://x", "plat login is not available in the web console"),
    ("logout", "plat logout is not available"),
    ("daemon serve", "plat daemon is not available"),
    ("init --image x", "plat init is not available"),
    ("rm -rf /", "'rm' is not a plat command"),
    ("plat plat status", "'plat' is not a plat command"),
    ("status --api http://evil", "--api is not allowed"),
    ("status --api=http://evil", "--api is not allowed"),
    ("status --ap http://evil", "--api is not allowed"),
    ("status --token plat_x", "--token is not allowed"),
    ("status --token-stdin", "--token is not allowed"),
    ("status --tok=plat_x", "--token is not allowed"),
    ("help --token x", "--token is not allowed"),
    ("status 'open", "cannot read the command"),
    ("status\nrm", "a command line is one line of text"),
    ("status \x00", "a command line is one line of text"),
    ("status " + "x" * MAX_LINE, f"longer than {MAX_LINE} characters"),
    ("status " + "x " * 300, "more than 256 words"),
])
def test_lines_the_console_refuses_say_why(line: str, message: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_line(line)
    assert message in e.value.message
    assert e.value.hint  # and what to do instead
    assert e.value.exit_code == 2


def test_every_plat_command_but_the_refused_ones_is_a_verb() -> None:
    assert "deploy" in VERBS
    assert "logs" in VERBS
    assert "exec" in VERBS
    assert not {"login", "logout", "daemon", "init"} & set(VERBS)


def test_a_session_keeps_blocks_in_order_and_bounded() -> None:
    s = ConsoleSessions().for_web("web1", "user-a", 0.0)
    seen: list[dict[str, object]] = []
    s.listeners.append(seen.append)
    b = s.start("status")
    with pytest.raises(InvalidInput, match="still running"):
        s.start("status")
    s.write(b, "out", "x" * (MAX_BLOCK_OUTPUT - 1) + "\n")
    s.write(b, "out", "more\n")  # over the limit: cut, once
    s.write(b, "out", "and more\n")
    s.finish(b, 0)
    assert [m["type"] for m in seen] == ["block", "out", "out", "end"]
    assert "output cut" in str(seen[2]["text"])
    assert b.size <= MAX_BLOCK_OUTPUT + 200
    for i in range(MAX_BLOCKS + 5):
        s.finish(s.start(f"orgs list {i}"), 0)
    hello = s.replay()
    assert len(hello["blocks"]) == MAX_BLOCKS
    assert hello["blocks"][-1]["line"] == f"orgs list {MAX_BLOCKS + 4}"


def test_uploads_are_named_sized_text_and_counted() -> None:
    s = ConsoleSessions().for_web("web1", "user-a", 0.0)
    s.upload("plat.toml", b'app = "x"\n')
    assert s.uploads == {"plat.toml": 'app = "x"\n'}
    for name, data, message in [
        ("../etc/passwd", b"x", "is not a file name"),
        ("/etc/passwd", b"x", "is not a file name"),
        ("big.toml", b"x" * (MAX_UPLOAD + 1), "larger than"),
        ("bin.env", b"\xff\xfe", "not UTF-8 text"),
        ("nul.env", b"A=1\0", "looks binary"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            s.upload(name, data)
    for i in range(MAX_UPLOADS - 1):
        s.upload(f"f{i}.env", b"A=1\n")
    with pytest.raises(InvalidInput, match=f"already holds {MAX_UPLOADS} files"):
        s.upload("one-more.env", b"A=1\n")
    s.upload("plat.toml", b'app = "y"\n')  # replacing one is fine


def test_tickets_are_single_use_short_lived_and_bound_to_their_session() -> None:
    sessions = ConsoleSessions()
    a = sessions.for_web("web-a", "user-a", 0.0)
    t = sessions.ticket(a, 0.0)
    assert sessions.redeem(t, 1.0) is a
    assert sessions.redeem(t, 1.0) is None  # used
    late = sessions.ticket(a, 0.0)
    assert sessions.redeem(late, TICKET_TTL + 0.1) is None  # expired
    assert sessions.redeem("made-up", 0.0) is None
    # Another person signing in with the same browser session id gets a new console session.
    assert sessions.for_web("web-a", "user-b", 2.0) is not a


def test_sessions_end_after_the_grace_period_or_with_their_user() -> None:
    sessions = ConsoleSessions(grace=60.0)
    idle = sessions.for_web("web-1", "user-a", 0.0)
    held = sessions.for_web("web-2", "user-a", 0.0)
    held.attached = 1
    other = sessions.for_web("web-3", "user-b", 0.0)
    other.attached = 1
    assert sessions.reap(30.0) == []
    assert sessions.reap(61.0) == [idle]
    assert idle.ended
    assert sessions.end_user("user-a") == [held]
    assert sessions.all() == [other]
    assert sessions.reap(61.0, alive=lambda sid: sid != "web-3") == [other]


def test_what_a_reload_replays_stays_bounded() -> None:
    s = ConsoleSessions().for_web("web1", "user-a", 0.0)
    for i in range(3 * MAX_SESSION_OUTPUT // MAX_BLOCK_OUTPUT):
        b = s.start(f"logs web {i}")
        s.write(b, "out", "x" * (MAX_BLOCK_OUTPUT - 10) + "\n")
        s.finish(b, 0)
    kept = s.replay()["blocks"]
    assert sum(len(t) for b in kept for _, t in b["out"]) <= MAX_SESSION_OUTPUT
    assert kept[-1]["line"] == f"logs web {3 * MAX_SESSION_OUTPUT // MAX_BLOCK_OUTPUT - 1}"


def test_a_panel_goes_back_only_while_it_streams_and_the_prompt_is_free() -> None:
    s = ConsoleSessions().for_web("web1", "user-a", 0.0)
    seen: list[dict[str, object]] = []
    s.listeners.append(seen.append)
    follow = s.start("events --follow")
    s.detach()
    other = s.start("status")
    with pytest.raises(InvalidInput, match="a command is running in the transcript"):
        s.reattach(follow.id)  # the transcript is busy: the panel stays a panel
    assert follow.id in s.panels
    s.finish(other, 0)
    assert s.reattach(follow.id) is follow
    assert s.running is follow
    assert follow.id not in s.panels
    assert s.blocks[-1] is follow  # last in the transcript, as a reload replays it
    assert seen[-1] == {"type": "reattached", "id": follow.id, "line": "events --follow"}
    with pytest.raises(InvalidInput, match="has ended or is not open"):
        s.reattach(follow.id)  # not a panel any more
    s.finish(follow, 130)
    with pytest.raises(InvalidInput, match="has ended or is not open"):
        s.reattach(9999)
