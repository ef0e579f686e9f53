"""An HTTPS-intercepting proxy for tests: SDKs that only speak HTTPS to fixed host names reach
a local handler through it.

A client whose ``HTTPS_PROXY`` points here sends ``CONNECT host:443``; the proxy accepts only
host names under the given suffix (a reserved ``.invalid`` domain in runlab's tests, so nothing
is ever forwarded anywhere), terminates TLS with a certificate for those names signed by a
throw-away CA (``REQUESTS_CA_BUNDLE`` makes the client trust it), and hands each HTTP request
inside the tunnel to a Python function as a :class:`RecordedRequest`.
"""

from __future__ import annotations

import datetime
import json
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: An answer: status, headers, body.
Answer = tuple[int, dict[str, str], bytes]

#: The path prefix of Azure ML's ARM resources, which :attr:`RecordedRequest.resource` strips.
PROVIDER = "providers/Microsoft.MachineLearningServices"


@dataclass(frozen=True)
class RecordedRequest:
    """One request received through the proxy tunnel."""

    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    @property
    def resource(self) -> str:
        """The path after ``/providers/Microsoft.MachineLearningServices/`` (ARM requests)."""
        marker = f"/{PROVIDER}/"
        return self.path.split(marker, 1)[1] if marker in self.path else self.path


def make_certificates(folder: Path, names: Sequence[str]) -> tuple[Path, Path, Path]:
    """A throw-away CA, and a server certificate for the DNS ``names`` that it signed: the
    paths of the CA, the certificate and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "runlab test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "key.pem"
    ca_path.write_bytes(ca_cert.public_bytes(pem))
    cert_path.write_bytes(cert.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


class InterceptingProxy:
    """The proxy (see the module docstring), serving in a background thread once started."""

    def __init__(
        self,
        folder: Path,
        names: Sequence[str],
        suffix: str,
        handle: Callable[[RecordedRequest], Answer],
    ) -> None:
        self.suffix = suffix
        self.handle = handle
        self.ca_path, cert_path, key_path = make_certificates(folder, names)
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(cert_path, key_path)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        self._httpd.daemon_threads = True
        self._httpd.proxy = self  # type: ignore[attr-defined]
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()


class _ProxyHandler(BaseHTTPRequestHandler):
    """Accepts CONNECT for the proxy's hosts, then serves HTTP inside the TLS tunnel."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle's algorithm and the
    # client's delayed ACK add 40 ms to every answer.
    disable_nagle_algorithm = True
    tunnel_host = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    @property
    def proxy(self) -> InterceptingProxy:
        return self.server.proxy  # type: ignore[attr-defined, no-any-return]

    def do_CONNECT(self) -> None:
        host = self.path.rsplit(":", 1)[0]
        if not host.endswith(f".{self.proxy.suffix}"):
            # Only the made-up hosts are served: nothing is ever forwarded elsewhere.
            self.send_error(403, f"this test proxy serves *.{self.proxy.suffix} hosts only")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        try:
            tls = self.proxy.tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):  # the client gave up on the handshake
            return
        try:
            _TunnelHandler.serve(tls, self.client_address, self.server, host)
        except (ssl.SSLError, OSError):  # the client closed the tunnel mid-request
            pass
        finally:
            tls.close()

    def _refuse(self) -> None:
        self.send_error(405, "use CONNECT")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _refuse


class _TunnelHandler(BaseHTTPRequestHandler):
    """HTTP requests inside one CONNECT tunnel, each handed to the proxy's ``handle``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    @classmethod
    def serve(cls, sock: Any, address: Any, server: Any, host: str) -> None:
        handler = cls.__new__(cls)
        handler.tunnel_host = host
        BaseHTTPRequestHandler.__init__(handler, sock, address, server)

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            host=self.tunnel_host,
            path=split.path,
            query=parse_qs(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        status, headers, payload = self.server.proxy.handle(request)
        self.send_response(status)
        for name, value in headers.items():
            if name != "Content-Length":
                self.send_header(name, value)
        self.send_header("Content-Length", headers.get("Content-Length", str(len(payload))))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _any
