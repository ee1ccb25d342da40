"""Example inventory: three edge hosts in two regions. Copy to inventory.py and edit.

Every module-level list (or (hosts, data) tuple) is a pyinfra group; names starting with "_" are
helpers pyinfra ignores. The addresses are from the documentation ranges (2001:db8::/32 and
192.0.2.0/24): replace them with your hosts'. README.md beside this file describes every key.
"""

# inventory name: (address used for SSH and by the peers, region label)
_HOSTS = {
    "edge-ams-1": ("2001:db8:10::11", "ams"),
    "edge-ams-2": ("2001:db8:10::12", "ams"),
    "edge-fra-1": ("192.0.2.21", "fra"),
}

# Where operators run `plat` from; they need the API too.
_OPERATORS = ["2001:db8:ff::/64"]

_CLUSTER = {
    "ssh_user": "root",
    # Where packaging/build-pyz wrote the single files (one per Debian release and machine; the
    # deploy picks the one each host needs). Relative paths are from the repository root.
    "plat_pyz": "dist",
    # Listen on every address; network.py then admits only platd_peers to this port.
    "platd_listen": "[::]:7400",
    "platd_registry": "127.0.0.1:5000",
    # Merged into each host's platd.toml; keys set there by hand and not here are kept.
    "platd_logs_max_bytes": "2G",
    "platd_ingress_driver": "haproxy",
    "platd_peers": [address for address, _ in _HOSTS.values()] + _OPERATORS,
    # Uplinks configured by SLAAC keep their default route once forwarding is on.
    "ipv6_accept_ra_interfaces": ["eth0"],
}

edge = (
    [
        (name, {"ssh_hostname": address, "platd_region": region})
        for name, (address, region) in _HOSTS.items()
    ],
    _CLUSTER,
)
