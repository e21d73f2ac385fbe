"""Real local HTTP and HTTPS servers for the http_client tests and bench (threads of this
process; HTTPS with a self-signed certificate made here with ``cryptography``)."""

from __future__ import annotations

import contextlib
import datetime
import gzip
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class Signals:
    """Events the handlers wait on (a stalled response, a request waiting for another)."""

    def __init__(self) -> None:
        self.release = threading.Event()  # set at teardown: stalled handlers return
        self.pinged = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    signals: Signals

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            # The client may have given up (a timeout test).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    def _route(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = parts.path
        if path == "/hello":
            self._send(200, b"hello", {"Content-Type": "text/plain", "x-lower-case": "yes"})
        elif path == "/echo":
            doc = {
                "method": self.command,
                "path": path,
                "raw_query": parts.query,
                "headers": {k: v for k, v in self.headers.items()},
                "body": body.decode("latin-1"),
            }
            self._send(200, json.dumps(doc).encode(), {"Content-Type": "application/json"})
        elif path == "/bytes":
            self._send(200, bytes([0xFF, 0xFE, 0x00, 0x80, 0x41]))
        elif path == "/empty":
            self._send(204, b"")
        elif path == "/big":
            self._send(200, b"x" * int(query.get("n", "1000")))
        elif path == "/gzip":
            self._send(200, gzip.compress(b"unzipped " * 10), {"Content-Encoding": "gzip"})
        elif path == "/cookies":
            self.send_response(200)
            self.send_header("Set-Cookie", "session=abc123; Path=/; HttpOnly")
            self.send_header("Set-Cookie", 'theme="dark"')
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/redirect":
            n = int(query.get("n", "1"))
            target = f"/redirect?n={n - 1}" if n > 1 else query.get("to", "/echo")
            self._send(int(query.get("code", "302")), b"", {"Location": target})
        elif path == "/stall":
            self.signals.release.wait(10)
            self._send(200, b"late")
        elif path == "/trickle":
            # A header line that never ends, a byte at a time, each well inside any socket
            # timeout: only a deadline on the whole request ends it.
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                while not self.signals.release.wait(0.02):
                    self.wfile.write(b"x")
                    self.wfile.flush()
            self.close_connection = True
        elif path == "/wait-for-ping":
            ok = self.signals.pinged.wait(10)
            self._send(200, b"pinged" if ok else b"never pinged")
        elif path == "/ping":
            self.signals.pinged.set()
            self._send(200, b"pong")
        else:
            self._send(404, b"not found")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_PROPFIND = _route


def self_signed(directory: Path) -> tuple[Path, Path, bytes]:
    """A certificate for localhost / 127.0.0.1 and its key (files), and the cert's PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, pem


@contextmanager
def serve(tls_dir: Path | None = None) -> Iterator[tuple[str, Signals, bytes | None]]:
    """Serve :class:`Handler` on 127.0.0.1; yields (base URL, signals, cert PEM or None)."""
    signals = Signals()
    handler = type("BoundHandler", (Handler,), {"signals": signals})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    pem = None
    scheme = "http"
    if tls_dir is not None:
        cert, key, pem = self_signed(tls_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", signals, pem
    finally:
        signals.release.set()
        signals.pinged.set()
        server.shutdown()
        server.server_close()
