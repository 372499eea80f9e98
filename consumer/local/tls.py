"""A certificate authority and a broker certificate for the local broker's TLS listener, made
by the project (the `cryptography` package), cached in the broker's work dir.

    tls = LocalTls.ensure(work_dir / "tls")   # made once, reused on every start
    tls.ca_path         # PEM: what a client trusts (`kafka.ssl_ca_location`)
    tls.keystore_path   # PEM: the broker's private key (PKCS#8) and certificate chain

The broker certificate names 127.0.0.1 and localhost, so clients keep librdkafka's default
hostname verification. `LocalTls.ensure(other_dir)` makes an unrelated CA: a client that trusts
it must fail the handshake (the "unknown CA" case).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_VALID_FOR = datetime.timedelta(days=3650)
_CA_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


@dataclass(frozen=True)
class LocalTls:
    directory: Path

    @property
    def ca_path(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def keystore_path(self) -> Path:
        return self.directory / "broker-keystore.pem"

    @classmethod
    def ensure(cls, directory: Path) -> LocalTls:
        """The CA and broker certificate in `directory`, made on first use."""
        tls = cls(directory)
        if not (tls.ca_path.is_file() and tls.keystore_path.is_file()):
            directory.mkdir(parents=True, exist_ok=True)
            tls._make()
        return tls

    def _make(self) -> None:
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, "infusion-validator local CA")]
        )
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALID_FOR)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_CA_USAGE, critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        broker = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALID_FOR)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        # Kafka's PEM key store: an unencrypted PKCS#8 key, then the certificate chain.
        self.keystore_path.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            + broker.public_bytes(pem)
            + ca.public_bytes(pem)
        )
        self.keystore_path.chmod(0o600)
        self.ca_path.write_bytes(ca.public_bytes(pem))
