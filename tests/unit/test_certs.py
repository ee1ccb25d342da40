"""The cluster CA and the host certificate (platd.certs), and fingerprints (spec.fingerprint).

Real keys and certificates in a temporary data dir; the handshake itself is tested against a
real platd in tests/cluster/test_tls_api.py.
"""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest

from platd import certs
from platd.spec.errors import InvalidInput
from platd.spec.fingerprint import fingerprint, is_loopback, normalise


def test_the_ca_is_made_once_and_its_fingerprint_is_openssls(tmp_path: Path) -> None:
    fp = certs.create_ca(tmp_path, "lab")
    assert certs.create_ca(tmp_path, "other") == fp  # kept, not replaced
    assert oct(certs.ca_key_file(tmp_path).stat().st_mode & 0o777) == "0o600"
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in",
                          str(certs.ca_file(tmp_path))], capture_output=True, text=True,
                         check=True).stdout
    assert normalise(out.split("=", 1)[1]) == fp


def test_the_host_certificate_names_what_it_must_and_is_issued_again_when_not(
        tmp_path: Path) -> None:
    certs.create_ca(tmp_path, "lab")
    names = certs.wanted_names("10.9.8.7", "https://plat.example.net:7400", ["203.0.113.7"])
    assert {"10.9.8.7", "plat.example.net", "203.0.113.7", "localhost"} <= set(names)
    cert, key = certs.ensure_host_cert(tmp_path, "h0", names)
    first = cert.read_bytes()
    assert certs.ensure_host_cert(tmp_path, "h0", names)[0].read_bytes() == first  # kept
    context = ssl.create_default_context(cafile=str(certs.ca_file(tmp_path)))
    context.load_cert_chain(cert, key)  # key and certificate belong together
    # A name it lacks: a new one that has it.
    again = certs.ensure_host_cert(tmp_path, "h0", [*names, "10.1.1.1"])[0].read_bytes()
    assert again != first
    text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(cert)],
                          capture_output=True, text=True, check=True).stdout
    assert "IP Address:10.1.1.1" in text
    assert "DNS:plat.example.net" in text
    # Another CA (the cluster's, taken at a join): the old certificate goes.
    other = tmp_path / "other"
    other.mkdir()
    certs.create_ca(other, "x")
    certs.write_ca(tmp_path, certs.ca_file(other).read_text(), certs.ca_key_pem(other))
    assert not cert.exists()
    renewed = certs.ensure_host_cert(tmp_path, "h0", names)[0]
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(certs.ca_file(other)),
                             str(renewed)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr


def test_a_wildcard_listen_names_the_hosts_addresses(tmp_path: Path) -> None:
    names = certs.wanted_names("::")
    assert "127.0.0.1" in names
    assert "::1" in names


def test_no_ca_no_tls(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="has no cluster CA"):
        certs.ensure_host_cert(tmp_path, "h0", ["10.0.0.1"])
    assert certs.client_context(tmp_path) is None


@pytest.mark.parametrize("text", ["", "sha256:", "sha256:" + "g" * 64, "ab" * 31, "x" * 500])
def test_a_fingerprint_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="is not a CA fingerprint"):
        normalise(text)


def test_fingerprints_of_a_non_certificate_are_refused() -> None:
    with pytest.raises(InvalidInput, match="not a PEM certificate"):
        fingerprint("hello")
    with pytest.raises(InvalidInput, match="too large"):
        fingerprint("A" * 20000)


@pytest.mark.parametrize(("host", "loop"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.1", False),
    ("example.net", False),
])
def test_what_counts_as_loopback(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop
