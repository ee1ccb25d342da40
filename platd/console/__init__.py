"""The web console: plat's second front end, a browser terminal that runs the same command
lines through the CLI's runner and shows the same words (docs/console.md).

``lines`` decides what a typed line may run, ``sessions`` keeps each browser session's
transcript (blocks, uploads, tickets) in memory, ``run`` runs one line in a thread with the
person's own token; ``platd.api.console`` is the HTTP and websocket side. ``static/`` holds
the page; ``static/vendor/`` gets ghostty-web from ``package-lock.json`` at setup (no Node at
run time).
"""
