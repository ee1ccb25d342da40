"""Every error the gossip layer raises, in one tree, so callers catch ours and never Serf's.

    GossipError (PlatError)        something went wrong talking to the gossip engine
    ├── ConnectionLost             the RPC connection is gone or could not be opened: the agent
    │                              stopped, restarted or is not running yet; reconnect (the
    │                              caller's job) and resubscribe to events
    ├── RequestFailed              the agent answered a request with an error (Serf's own words)
    │   ├── AuthFailed             the RPC auth key is missing or wrong
    │   └── PayloadTooLarge        a user event's name + payload is over the agent's limit
    ├── RequestTimedOut            the agent accepted the connection but did not answer in time
    └── AgentFailed                the ``serf agent`` process would not start, or exited

Messages never contain the RPC auth key or the keyring: both are secrets of the cluster.
"""

from __future__ import annotations

from platd.spec.errors import PlatError

__all__ = [
    "AgentFailed",
    "AuthFailed",
    "ConnectionLost",
    "GossipError",
    "PayloadTooLarge",
    "RequestFailed",
    "RequestTimedOut",
]


class GossipError(PlatError):
    pass


class ConnectionLost(GossipError):
    pass


class RequestFailed(GossipError):
    pass


class AuthFailed(RequestFailed):
    pass


class PayloadTooLarge(RequestFailed):
    pass


class RequestTimedOut(GossipError):
    pass


class AgentFailed(GossipError):
    pass
