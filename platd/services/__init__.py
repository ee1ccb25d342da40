"""The rules of the product, one module per resource, below the HTTP layer and above storage.

Controllers in ``platd.api`` stay thin: they parse a request, call one function here with the
caller's ``Principal`` and return what it returns (plain dicts, ready for JSON). Everything a user
can be refused for is decided here, so the same rules hold for every caller.
"""
