"""Downloading a checkpoint by URL: only public http(s), no loopback or private addresses (nor redirects to
them), a total deadline, a size cap, and a clear error for a broken Content-Length.

Every server here is started by the test on 127.0.0.1, which the download policy refuses unless
$UNSIR_URL_ALLOW names the exact host:port; every file lives under pytest's temporary folders.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from studio import imports
from studio.setup import Setup
from tests.helpers import ROOT, SHIPPED
from unsir_core.checkpoints import fetch
from unsir_core.common.errors import CheckpointError

# --- URLs ---------------------------------------------------------------------------------------------------


class Server:
    """An HTTP server on 127.0.0.1 in a thread, answering with `handle(request_handler)`; counts requests."""

    def __init__(self, handle):
        outer = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                handle(self)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    started = []

    def start(handle):
        started.append(Server(handle))
        return started[-1]

    yield start
    for server in started:
        server.close()


def send_file(payload: bytes):
    def handle(h):
        h.send_response(200)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    return handle


def test_loopback_is_refused_before_connecting_unless_allowed(serve, monkeypatch, tmp_path):
    server = serve(send_file(SHIPPED.read_bytes()))
    monkeypatch.delenv(fetch.ALLOW_ENV, raising=False)
    with pytest.raises(CheckpointError, match="loopback, private or link-local"):
        imports.from_source(f"{server.url}/model.safetensors", Setup())
    assert server.requests == 0  # nothing to learn about the port: no connection was made
    monkeypatch.setenv(fetch.ALLOW_ENV, f"127.0.0.1:{server.port}")
    assert imports.from_source(f"{server.url}/model.safetensors", Setup()) == "model.safetensors"
    assert server.requests == 1


def test_a_redirect_to_another_local_port_is_refused(serve, monkeypatch, tmp_path):
    target = serve(send_file(SHIPPED.read_bytes()))

    def redirect(h):
        h.send_response(302)
        h.send_header("Location", f"{target.url}/model.safetensors")
        h.end_headers()

    first = serve(redirect)
    monkeypatch.setenv(fetch.ALLOW_ENV, f"127.0.0.1:{first.port}")  # only the first server is trusted
    with pytest.raises(CheckpointError, match=f"Refused {target.url}"):
        fetch.download(f"{first.url}/model.safetensors", tmp_path / "m.safetensors")
    assert first.requests == 1 and target.requests == 0


def test_a_slow_drip_is_stopped_at_the_total_deadline(serve, monkeypatch, tmp_path):
    def drip(h):
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        for _ in range(300):  # 1,000 bytes over 30 s: each read is quick, the whole is not
            try:
                h.wfile.write(b"x")
                h.wfile.flush()
            except OSError:
                return
            time.sleep(0.1)

    server = serve(drip)
    monkeypatch.setenv(fetch.ALLOW_ENV, f"127.0.0.1:{server.port}")
    start = time.monotonic()
    with pytest.raises(CheckpointError, match="took longer than 1 s"):
        fetch.download(f"{server.url}/m.pt", tmp_path / "m.pt", deadline_s=1.0)
    assert time.monotonic() - start < 15  # the drip alone lasts 30 s


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "no-length"])
def test_a_body_over_the_size_cap_is_refused(serve, monkeypatch, tmp_path, declared):
    def big(h):
        h.send_response(200)
        if declared:
            h.send_header("Content-Length", str(4096))
        h.end_headers()
        h.wfile.write(b"x" * 4096)
        h.close_connection = True

    server = serve(big)
    monkeypatch.setenv(fetch.ALLOW_ENV, f"127.0.0.1:{server.port}")
    with pytest.raises(CheckpointError, match="larger than"):
        fetch.download(f"{server.url}/m.pt", tmp_path / "m.pt", max_bytes=1024)


@pytest.mark.parametrize("length", ["²", "-5", "1e3", "0x1", ""])
def test_a_content_length_that_is_not_ascii_digits_is_a_clear_error(serve, monkeypatch, tmp_path, length):
    def odd(h):  # '²'.isdigit() is True, and int('²') raises ValueError
        h.send_response(200)
        h.send_header("Content-Length", length)
        h.end_headers()
        h.wfile.write(b"x" * 12)
        h.close_connection = True

    server = serve(odd)
    monkeypatch.setenv(fetch.ALLOW_ENV, f"127.0.0.1:{server.port}")
    with pytest.raises(CheckpointError, match="answered a broken Content-Length .*: it is not a size in bytes"):
        fetch.download(f"{server.url}/m.pt", tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def test_the_model_page_shows_a_broken_content_length_as_an_error(serve, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    from studio import nav

    def odd(h):
        h.send_response(200)
        h.send_header("Content-Length", "²")
        h.end_headers()
        h.wfile.write(SHIPPED.read_bytes()[:100])
        h.close_connection = True

    server = serve(odd)
    monkeypatch.setenv(fetch.ALLOW_ENV, f"127.0.0.1:{server.port}")
    monkeypatch.setenv("UNSIR_HOME", str(tmp_path / "home"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()
    at.switch_page(nav.MODEL.path).run()
    at.text_input(key="source").set_value(f"{server.url}/model.safetensors").run()
    at.button(key="load-source").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("answered a broken Content-Length ('²')" in e.value for e in at.error), [e.value for e in at.error]
    assert server.requests == 1


@pytest.mark.parametrize(
    "url, message",
    [
        ("file:///etc/passwd", "Only http and https"),
        ("ftp://example.org/m.pt", "Only http and https"),
        ("http://169.254.169.254/latest/m.pt", "loopback, private or link-local"),
        ("http://10.0.0.1/m.pt", "loopback, private or link-local"),
        ("http://[::1]:8080/m.pt", "loopback, private or link-local"),
    ],
)
def test_urls_that_are_not_public_http_are_refused(url, message, tmp_path):
    with pytest.raises(CheckpointError, match=message):
        fetch.download(url, tmp_path / "m.pt")


def test_a_url_with_the_wrong_suffix_is_refused_before_fetching(serve, monkeypatch):
    server = serve(send_file(b"x"))
    monkeypatch.setenv(fetch.ALLOW_ENV, f"127.0.0.1:{server.port}")
    with pytest.raises(CheckpointError, match="Unsupported checkpoint type"):
        imports.from_source(f"{server.url}/index.html", Setup())
    assert server.requests == 0


@pytest.mark.parametrize(
    "address, public",
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.0.7", False),
        ("172.16.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
    ],
)
def test_only_global_unicast_addresses_are_public(address, public):
    assert fetch.is_public(address) is public
