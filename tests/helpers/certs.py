"""Self-signed X.509 certificates for tests: a TLS server's, or a webhook signer's."""

from __future__ import annotations

import datetime as dt


def self_signed(key, name: str, *, days: float = 1, san_ip: str | None = None) -> bytes:
    """Return a PEM certificate of key for name, valid from a day ago for days.

    san_ip: also name that IP address, as a CA certificate a TLS client can trust.
    """
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
    )
    if san_ip is not None:
        address = x509.IPAddress(ipaddress.ip_address(san_ip))
        builder = builder.add_extension(x509.SubjectAlternativeName([address]), critical=False)
        constraints = x509.BasicConstraints(ca=True, path_length=None)
        builder = builder.add_extension(constraints, critical=True)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
