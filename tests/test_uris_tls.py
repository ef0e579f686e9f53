"""runlab.uris.tls_verify_for: plain-http clients skip loading CA certificates but never
connect to an https address unverified."""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from runlab.uris import tls_verify_for


def test_plain_http_gets_a_context_that_still_requires_a_valid_certificate() -> None:
    context = tls_verify_for("http://127.0.0.1:5000", True)
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.cert_store_stats()["x509_ca"] == 0  # no bundle loaded: nothing is trusted


@pytest.mark.parametrize(
    ("url", "verify"),
    [
        ("https://tracking.example.com", True),
        ("http://127.0.0.1:5000", False),
        ("http://127.0.0.1:5000", "/etc/ssl/certs/ca.pem"),
        ("https://tracking.example.com", "/etc/ssl/certs/ca.pem"),
    ],
)
def test_everything_else_is_left_as_configured(url: str, verify: bool | str) -> None:
    assert tls_verify_for(url, verify) == verify


def test_a_plain_http_client_sent_to_https_fails_instead_of_connecting_unverified(
    tmp_path: Path,
) -> None:
    # A TLS server whose certificate is valid for 127.0.0.1 but signed by a CA nobody trusts
    # here: a client built for http:// must refuse it, not talk to it.
    from runlab.httpx_lean import httpx
    from support.azure_arm_proxy import make_certificates

    _, cert, key = make_certificates(tmp_path, ["127.0.0.1"])
    server = HTTPServer(("127.0.0.1", 0), _Hello)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}/"
        client = httpx.Client(verify=tls_verify_for("http://127.0.0.1:1", True))
        with client, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(url)
    finally:
        server.shutdown()
        server.server_close()


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: object) -> None:
        pass
