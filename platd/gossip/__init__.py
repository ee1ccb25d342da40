"""Peer membership and dissemination for a cluster of platd hosts, on HashiCorp Serf.

Serf (one ``serf agent`` per host, supervised by ``agent.SerfAgent``) does membership, failure
detection and gossip; plat talks to it through the ``protocol.Gossip`` boundary: the real
``serf_rpc.SerfClient`` or, in unit tests, ``fake.FakeGossip``. Replication (rows pulled over
HTTP, anti-entropy) is built on top and never trusts gossip to deliver: events are hints.
Import the submodule you need; this package imports nothing.
"""
