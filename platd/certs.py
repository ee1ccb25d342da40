"""The cluster's certificate authority and this host's API certificate, as files.

    DATA/tls/ca.pem     the cluster CA's certificate (public: the CLI pins it at login)
    DATA/tls/ca.key     its private key, 0600; every member holds it (handed over in the
                        join's sealed answer) so any member can issue its own certificate
    DATA/tls/host.pem   this host's API certificate, signed by the CA, naming the addresses
    DATA/tls/host.key   and names the API is reached at; its key, 0600

``platd init`` makes the CA (a host of its own is a cluster of one); ``platd init --join``
replaces it with the cluster's. ``platd serve`` issues the host certificate when it is
missing, expires within 30 days, was signed by another CA, or does not name an address the
API should answer at: every address of the host's interfaces (or the one it listens on),
its hostname, ``localhost``, the host of ``api_url`` and the ``tls_names`` of platd.toml.
Keys are ECDSA P-256; the CA lasts 20 years, a host certificate one year.
"""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import os
import socket
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from platd.private_files import write_private
from platd.spec.errors import InvalidInput
from platd.spec.fingerprint import fingerprint

__all__ = ["ca_pem", "create_ca", "ensure_host_cert", "fingerprint", "write_ca"]

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

CA_DAYS = 20 * 365
HOST_DAYS = 365
RENEW_DAYS = 30
MAX_NAMES = 100


def tls_dir(data: Path) -> Path:
    return data / "tls"


def ca_file(data: Path) -> Path:
    return tls_dir(data) / "ca.pem"


def ca_key_file(data: Path) -> Path:
    return tls_dir(data) / "ca.key"


def host_cert_file(data: Path) -> Path:
    return tls_dir(data) / "host.pem"


def host_key_file(data: Path) -> Path:
    return tls_dir(data) / "host.key"


def ca_pem(data: Path) -> str | None:
    """The CA certificate, or None on a data dir made before platd had one."""
    path = ca_file(data)
    return path.read_text() if path.exists() else None


def ca_fingerprint(data: Path) -> str | None:
    pem = ca_pem(data)
    return fingerprint(pem) if pem else None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))


def create_ca(data: Path, name: str) -> str:
    """Make the CA (kept if one is there); its fingerprint."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    existing = ca_pem(data)
    if existing:
        return fingerprint(existing)
    key = _new_key()
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "plat"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"plat cluster CA {name}"[:64]),
    ])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    write_ca(data, pem.decode(), _key_pem(key).decode())
    return fingerprint(pem.decode())


def write_ca(data: Path, cert_pem: str, key_pem: str) -> None:
    """Install a CA (the cluster's, on a joining host); the host certificate goes with the
    old one."""
    folder = tls_dir(data)
    folder.mkdir(mode=0o700, exist_ok=True)
    write_private(ca_key_file(data), key_pem.encode())
    tmp = ca_file(data).with_suffix(".tmp")
    tmp.write_text(cert_pem)
    tmp.chmod(0o644)
    os.replace(tmp, ca_file(data))
    for stale in (host_cert_file(data), host_key_file(data)):
        stale.unlink(missing_ok=True)


def ca_key_pem(data: Path) -> str:
    return ca_key_file(data).read_text()


def local_addresses() -> list[str]:
    """Every address of this host's interfaces (network namespace), IPv4 and IPv6."""
    found: list[str] = []
    try:
        with open("/proc/net/fib_trie", encoding="ascii") as f:
            lines = f.read().splitlines()
        for before, line in itertools.pairwise(lines):
            if line.strip() == "/32 host LOCAL" and "|--" in before:
                found.append(before.split("|--")[1].strip())
    except OSError:
        pass
    try:
        with open("/proc/net/if_inet6", encoding="ascii") as f:
            for line in f:
                raw = line.split()[0]
                found.append(str(ipaddress.IPv6Address(bytes.fromhex(raw))))
    except (OSError, ValueError, IndexError):
        pass
    return list(dict.fromkeys(found))


def wanted_names(listen_host: str, api_url: str = "", extra: list[str] | tuple[str, ...] = ()
                 ) -> list[str]:
    """What the host certificate must name for the API listening on ``listen_host``."""
    from urllib.parse import urlsplit

    names = ["localhost", socket.gethostname()]
    bare = listen_host.strip("[]")
    if bare in ("", "0.0.0.0", "::"):
        names += local_addresses()
    else:
        names.append(bare)
    if api_url:
        try:
            host = urlsplit(api_url if "://" in api_url else "https://" + api_url).hostname
        except ValueError:
            host = None
        if host:
            names.append(host)
    names += list(extra)
    unique = list(dict.fromkeys(n for n in names if n))
    return unique[:MAX_NAMES]


def _san(names: list[str]):  # type: ignore[no-untyped-def]
    from cryptography import x509

    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _covers(cert_pem: bytes, ca_cert_pem: bytes, names: list[str]) -> bool:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        ca = x509.load_pem_x509_certificate(ca_cert_pem)
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, Exception):
        return False
    if cert.not_valid_after_utc - _now() < datetime.timedelta(days=RENEW_DAYS):
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    have |= set(san.get_values_for_type(x509.DNSName))
    return all(_canonical(n) in have for n in names)


def _canonical(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def ensure_host_cert(data: Path, host_name: str, names: list[str]) -> tuple[Path, Path]:
    """The host certificate and key files, issued again when they do not fit ``names``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_cert = ca_pem(data)
    if ca_cert is None:
        raise InvalidInput(
            f"{data} has no cluster CA, so platd cannot serve TLS",
            hint=["data dirs made before TLS have none: make it with `platd ca --create`",
                  "or listen on a loopback address (127.0.0.1:7400) without TLS"],
        )
    cert_file, key_file = host_cert_file(data), host_key_file(data)
    if cert_file.exists() and key_file.exists() and _covers(
            cert_file.read_bytes(), ca_cert.encode(), names):
        return cert_file, key_file
    ca = x509.load_pem_x509_certificate(ca_cert.encode())
    ca_key = serialization.load_pem_private_key(ca_key_file(data).read_bytes(), password=None)
    key = _new_key()
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "plat"),
            x509.NameAttribute(NameOID.COMMON_NAME, (host_name or "platd")[:64]),
        ]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=HOST_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_san([_canonical(n) for n in names]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    write_private(key_file, _key_pem(key))
    write_private(cert_file, cert.public_bytes(serialization.Encoding.PEM))
    return cert_file, key_file


def client_context(data: Path) -> ssl.SSLContext | None:
    """What a peer connects to other members' https APIs with: only the cluster CA is
    trusted (None on a data dir without one: system trust applies)."""
    pem = ca_pem(data)
    if pem is None:
        return None
    return ssl.create_default_context(cadata=pem)
