"""The rules of the product, one module per resource, below the HTTP layer and above storage.

Controllers in ``platd.api`` stay thin: they parse a request, call one function here with the
daemon's ``ServiceContext`` and the caller's ``Principal`` and return what it returns (plain
dicts, ready for JSON). Everything a user can be refused for is decided here, so the same rules
hold for every caller (the HTTP API today, a second front end tomorrow).

Modules depend one way (``.importlinter`` checks it): ``context`` and ``tenancy`` at the bottom;
``tokens``, ``config``, ``endpoints`` and ``volumes`` above them; ``releases`` above those;
``status``, ``events``, ``exec``, ``builds`` and ``logs`` on top. Reads several of them share live
in ``platd.store.queries``; events are recorded through ``platd.store.eventlog``.
"""
