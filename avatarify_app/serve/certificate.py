"""The worker's TLS certificate: self-signed, made on first start, kept in the user data folder.

Clients do not trust it through a certificate authority: they pin its SHA-256 fingerprint, which
``avatarify serve`` prints in the command line a person copies.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from avatarify_app.config import user_data_dir
from avatarify_app.errors import DeviceError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Certificate:
    cert: Path
    key: Path
    fingerprint: bytes  # SHA-256 of the DER certificate

    @property
    def fingerprint_hex(self) -> str:
        return self.fingerprint.hex()


def default_folder() -> Path:
    return user_data_dir() / "worker"


def load_or_make(folder: Path | None = None) -> Certificate:
    """The certificate in ``folder`` (default: ``<user data>/worker``), made there if absent or
    unreadable. Raises ``DeviceError`` when the folder cannot be written."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    folder = folder or default_folder()
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    if cert_path.is_file() and key_path.is_file():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if cert.not_valid_after_utc > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1):
                return Certificate(cert_path, key_path, cert.fingerprint(hashes.SHA256()))
        except (OSError, ValueError) as exc:
            logger.warning("the worker certificate in %s is unreadable (%s): making a new one", folder, exc)
    try:
        return _make(folder, cert_path, key_path)
    except OSError as exc:
        raise DeviceError(
            f"cannot write the worker's certificate to {folder}: {exc.strerror or exc}"
        ) from exc


def _make(folder: Path, cert_path: Path, key_path: Path) -> Certificate:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"avatarify worker {socket.gethostname()}")])
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.DNSName(socket.gethostname()),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    logger.info("made a new worker certificate in %s", folder)
    return Certificate(cert_path, key_path, cert.fingerprint(hashes.SHA256()))
