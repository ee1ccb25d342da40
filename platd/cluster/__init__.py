"""Many hosts, one cluster: identity, peer authentication, joining and replication.

    identity.py    the cluster's files in a host's data dir (id, name, keys; mode 0600)
    peer_auth.py   peers sign their requests with the cluster key; user tokens never pass
    bootstrap.py   platd init --cluster / --join (the key exchange is platd/secrets/join.py)
    transport.py   how a host reads another's rows (HTTP, and an in-memory fake for tests)
    replicator.py  hints on commit, pulls on hints, anti-entropy: how every host converges
    conflicts.py   concurrent writes that the merge resolved, made visible as events

Serf (``platd.gossip``) says who is alive and carries hints; rows travel by pull over the peer
API, and the merge (``Store.apply_remote``) makes any order of arrival end in the same state.
"""
