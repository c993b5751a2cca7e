"""Downloading a checkpoint from an http(s) URL without exposing the machine that serves the dashboard.

- Only `http` and `https`, at most `MAX_REDIRECTS` redirects, each hop checked like the first.
- The host is resolved here and every address must be public: loopback, private, link-local,
  shared, reserved and multicast addresses are refused *before* connecting, so the dashboard cannot
  be used to reach services on the lecturer's laptop or network, nor to tell their open ports from
  closed ones. The connection then goes to the address that was checked (no second DNS answer).
- Exception: `$UNSIR_URL_ALLOW`, a comma-separated list of `host:port`, names servers that may be
  private (a model server on the campus network; the tests' server on 127.0.0.1). It allows exactly
  those host and port pairs: a redirect from an allowed server to any other private one is refused.
- The body streams to a file with a size cap, under one total deadline for the whole download
  (connection, redirects, headers and body): a server that drips one byte a second is cut off.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import ssl
import threading
import time
import urllib.parse
from pathlib import Path

from unsir_core.common.errors import CheckpointError

ALLOW_ENV = "UNSIR_URL_ALLOW"
SCHEMES = {"http": 80, "https": 443}
MAX_BYTES = 50 * 1024**2  # a ResNet18 checkpoint (the largest CPU-trainable model here) is 45 MB
DEADLINE_S = 120.0  # the whole download: 50 MB at 0.4 MB/s
MAX_REDIRECTS = 5
CHUNK = 1024**2


def download(url: str, dest: Path, max_bytes: int = MAX_BYTES, deadline_s: float = DEADLINE_S) -> None:
    """Write the body at `url` to `dest`; CheckpointError saying why when refused or failed."""
    deadline = time.monotonic() + deadline_s
    for _ in range(MAX_REDIRECTS + 1):
        target = _check_url(url)
        conn = _connect(target, deadline)
        try:
            with _Watchdog(conn, deadline):
                conn.request("GET", target.request_path, headers={"User-Agent": "unsir-studio", "Accept": "*/*"})
                response = conn.getresponse()
                if response.status in (301, 302, 303, 307, 308):
                    location = response.getheader("Location")
                    if not location:
                        raise CheckpointError(f"{url} redirects without saying where to.")
                    url = urllib.parse.urljoin(url, location)
                    continue
                if response.status != 200:
                    raise CheckpointError(f"{url} answered {response.status} {response.reason}: check the address.")
                _save_body(response, url, dest, max_bytes, deadline)
                return
        except (OSError, http.client.HTTPException) as err:
            if time.monotonic() >= deadline:
                raise CheckpointError(_too_slow(url, deadline_s)) from None
            raise CheckpointError(
                f"Could not download {url} ({err.__class__.__name__}). This machine may be "
                "offline: copy the file here and give its path instead, or upload it."
            ) from None
        finally:
            conn.close()
    raise CheckpointError(f"{url} redirects more than {MAX_REDIRECTS} times; give the final address.")


class _Target:
    def __init__(self, scheme: str, host: str, port: int, request_path: str, address: str):
        self.scheme, self.host, self.port, self.request_path, self.address = scheme, host, port, request_path, address


def _check_url(url: str) -> _Target:
    """The URL's parts and the address to connect to; CheckpointError when the policy refuses it."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise CheckpointError(f"Only http and https addresses can be downloaded, not {scheme or 'this'}: {url}")
    try:
        host, port = parts.hostname, parts.port or SCHEMES[scheme]
    except ValueError:
        raise CheckpointError(f"{url} has an invalid port.") from None
    if not host:
        raise CheckpointError(f"{url} names no server.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise CheckpointError(
            f"Could not find the server {host}. This machine may be offline: copy the file here "
            "and give its path instead, or upload it."
        ) from None
    addresses = [info[4][0] for info in infos]
    if f"{host.lower()}:{port}" not in allowed() and not all(is_public(a) for a in addresses):
        raise CheckpointError(
            f"Refused {url}: {host} is a loopback, private or link-local address. Downloads "
            f"come only from public servers (the dashboard's operator can allow one with "
            f"{ALLOW_ENV}=host:port)."
        )
    return _Target(scheme, host, port, path, addresses[0])


def allowed() -> set[str]:
    """`host:port` pairs from $UNSIR_URL_ALLOW that may be private addresses."""
    return {p.strip().lower() for p in os.environ.get(ALLOW_ENV, "").split(",") if p.strip()}


def is_public(address: str) -> bool:
    """True for a globally routable unicast address (IPv4-mapped IPv6 judged as IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _connect(target: _Target, deadline: float) -> http.client.HTTPConnection:
    """A connection to the checked address (the Host header and TLS certificate still name the host)."""
    timeout = max(0.1, deadline - time.monotonic())
    if target.scheme == "https":
        context = ssl.create_default_context()  # verifies the certificate against the host name
        conn = http.client.HTTPSConnection(target.host, target.port, timeout=timeout, context=context)

        def connect() -> None:
            sock = socket.create_connection((target.address, target.port), timeout)
            conn.sock = context.wrap_socket(sock, server_hostname=target.host)
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout)

        def connect() -> None:
            conn.sock = socket.create_connection((target.address, target.port), timeout)

    conn.connect = connect
    return conn


class _Watchdog:
    """Shuts the connection's socket at the deadline, so no read (headers or body) outlives it."""

    def __init__(self, conn: http.client.HTTPConnection, deadline: float):
        self.conn = conn
        self.timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._stop)
        self.timer.daemon = True

    def _stop(self) -> None:
        sock = self.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> _Watchdog:
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.cancel()


def _save_body(response: http.client.HTTPResponse, url: str, dest: Path, max_bytes: int, deadline: float) -> None:
    too_large = f"{url} is larger than {max_bytes / 1024**2:g} MB, more than a checkpoint here needs; it was not kept."
    length = response.getheader("Content-Length")
    if length is not None and not (length.isascii() and length.isdigit()):  # '²'.isdigit() is True; int() fails
        raise CheckpointError(
            f"The server of {url} answered a broken Content-Length ({length[:40]!r}): it is not "
            "a size in bytes. Nothing was kept; download the file yourself and give its path."
        )
    if length and int(length) > max_bytes:
        raise CheckpointError(too_large)
    total = 0
    with open(dest, "wb") as f:
        while chunk := response.read1(CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise CheckpointError(too_large)
            if time.monotonic() >= deadline:
                raise TimeoutError
            f.write(chunk)
    if time.monotonic() >= deadline:  # the watchdog cut the body short
        raise TimeoutError
    if length and total != int(length):
        raise CheckpointError(f"The download of {url} was cut short ({total:,} of {int(length):,} bytes); try again.")


def _too_slow(url: str, deadline_s: float) -> str:
    return (
        f"Downloading {url} took longer than {deadline_s:g} s and was stopped. Download it yourself, then give "
        "its path or upload it."
    )
