"""Real network failures on this machine only: a TLS server with a self-signed certificate, a
closed port, a host name that does not resolve.

Everything binds to or connects to 127.0.0.1; the unresolvable name is refused by a patched
``socket.getaddrinfo`` (both ``requests`` and ``httpx`` resolve through it), so no DNS query
leaves the machine. The libraries still raise their real exceptions with their real chains.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

UNRESOLVABLE = "api.unresolvable.invalid"


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key, valid today: (cert file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # only reached by a client that trusts the certificate
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class SelfSignedServer:
    """HTTPS on 127.0.0.1 with a self-signed certificate: a client that verifies refuses it.

    Use as a context manager; :attr:`url` is ``https://127.0.0.1:<port>``.
    """

    def __init__(self, folder: Path) -> None:
        cert_file, key_file = self_signed_certificate(folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.server.handle_error = lambda request, address: None  # the refused handshakes are expected
        self.port = self.server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> SelfSignedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connecting is refused."""
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def refuse_to_resolve(monkeypatch, name: str = UNRESOLVABLE) -> str:
    """Make ``name`` fail to resolve as an unknown DNS name does (``socket.gaierror``)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == name:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return name
