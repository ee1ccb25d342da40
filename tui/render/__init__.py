"""The words plat shows people: receipts, status tables, event lines, failure summaries.

Every front end (CLI, TUI, web console) renders API results through these modules, so the
same thing is always said the same way. They take the API's plain dicts and return lines of
text; they never print and never call the daemon, and they import only the standard library
and ``platd.spec`` (``plat status`` must start fast).

One module per thing said, imported by name (``from tui.render.status import status_lines``);
this package re-exports nothing:

- ``text``: tables, short ids and digests, terminal-safe text (the shared shapes)
- ``receipts``: deploy, rollback, retry and scale receipts; ``starter``: ``plat init``
- ``releases``: the release list, failed and degraded rollouts
- ``status``: ``plat status`` and the Status tab; ``describe``: ``plat describe``
- ``events``, ``logs``: one event, one log line, and the notes around a log stream
- ``endpoints``, ``volumes``, ``hosts``, ``instances`` (and ``plat exec``'s pick list)
- ``connection``: lost and back during a follow; ``errors``: plat's own errors
- ``confirm``: what a delete destroys, and the type-the-name question
"""
