"""agent/_http.py against real local servers: bodies, statuses, timeouts, a real forward proxy, TLS."""

import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent._http import MAX_BODY, HTTPError, proxy_for, request
from tests.agent._proxy import ForwardProxy

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        self.server.seen.append((self.command, self.path, dict(self.headers), b""))
        path = self.path.partition("?")[0]
        if path == "/length":
            self._send(200, b"by length", [("Content-Length", "9")])
        elif path == "/chunked":
            self._send(200, b"4;ext=1\r\nby c\r\n6\r\nhunks!\r\n0\r\nX-Trailer: 1\r\n\r\n",
                       [("Transfer-Encoding", "chunked")])
        elif path == "/close":
            self.close_connection = True
            self._send(200, b"until the end", [("Connection", "close")])
        elif path == "/redirect":
            self._send(302, b"", [("Location", "/portal"), ("Content-Length", "0")])
        elif path == "/big":
            self._send(200, b"x" * (MAX_BODY + 10), [("Content-Length", str(MAX_BODY + 10))])
        elif path == "/short":
            self.close_connection = True
            self._send(200, b"only part", [("Content-Length", "100")])
        elif path == "/hang":
            time.sleep(3)
        else:
            self._send(404, b"no", [("Content-Length", "2")])

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append((self.command, self.path, dict(self.headers), body))
        self.send_response_only(100)  # an interim answer first, as a server may send
        self.end_headers()
        self._send(429, b'{"detail": "busy"}', [("retry-after", "7"), ("Content-Length", "18"),
                                                ("Set-Cookie", "a=1"), ("set-cookie", "b=2")])


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.seen = []
    srv.url = f"http://127.0.0.1:{srv.server_port}"
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def tls_server(enterprise_ca):
    ca, (cert, key) = enterprise_ca
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.seen = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.url = f"https://127.0.0.1:{srv.server_port}"
    srv.ca = ssl.create_default_context(cafile=str(ca))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_bodies_by_length_chunks_and_connection_close(server):
    assert request("GET", server.url + "/length").body == b"by length"
    chunked = request("GET", server.url + "/chunked")
    assert (chunked.status, chunked.body) == (200, b"by chunks!")
    assert request("GET", server.url + "/close").text == "until the end"
    missing = request("GET", server.url + "/nothing")
    assert (missing.status, missing.text) == (404, "no")
    assert len(request("GET", server.url + "/big").body) == MAX_BODY  # cut, not kept whole
    with pytest.raises(HTTPError) as exc:
        request("GET", server.url + "/short")
    assert exc.value.kind == "protocol" and "cut short" in str(exc.value)
    method, path, headers, _ = server.seen[0]
    assert (method, path, headers["Host"], headers["Connection"]) == ("GET", "/length", server.url[7:], "close")


def test_post_sends_body_and_headers_and_reads_the_answer_after_100_continue(server):
    resp = request("POST", server.url + "/api/v1/events?x=1", body=b"\x1f\x8bpayload",
                   headers={"Content-Encoding": "gzip", "Authorization": "Bearer t"}, timeout_s=5)
    assert resp.status == 429 and resp.headers["retry-after"] == "7" and resp.json() == {"detail": "busy"}
    assert resp.headers["set-cookie"] == "a=1, b=2"
    method, path, headers, body = server.seen[0]
    assert (method, path, body) == ("POST", "/api/v1/events?x=1", b"\x1f\x8bpayload")
    assert headers["Content-Encoding"] == "gzip" and headers["Authorization"] == "Bearer t"
    assert headers["Content-Length"] == "9"


def test_redirects_are_reported_not_followed(server):
    resp = request("GET", server.url + "/redirect")
    assert resp.status == 302 and resp.is_redirect and resp.headers["location"] == "/portal"
    assert [p for _, p, _, _ in server.seen] == ["/redirect"]


def test_timeout_refused_and_garbage_answers_have_their_kind(server):
    t0 = time.monotonic()
    with pytest.raises(HTTPError) as exc:
        request("GET", server.url + "/hang", timeout_s=0.5)
    assert exc.value.kind == "timeout" and time.monotonic() - t0 < 2.5
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(HTTPError) as exc:
        request("GET", f"http://127.0.0.1:{port}/")
    assert exc.value.kind == "connect" and "Connection refused" in str(exc.value)

    listener = socket.create_server(("127.0.0.1", 0))

    def answer_garbage():
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        conn.close()

    threading.Thread(target=answer_garbage, daemon=True).start()
    with pytest.raises(HTTPError) as exc:
        request("GET", f"http://127.0.0.1:{listener.getsockname()[1]}/")
    listener.close()
    assert exc.value.kind == "protocol" and "not an HTTP/1.x answer" in str(exc.value)
    with pytest.raises(ValueError, match="not an http"):
        request("GET", "ftp://127.0.0.1/file")


def test_proxy_settings_from_the_environment():
    env = {"http_proxy": "proxy.corp:3128", "HTTPS_PROXY": "http://tls-proxy.corp:8080",
           "no_proxy": "localhost, .internal.corp,10.1.2.3,bypass.corp:8443"}
    assert proxy_for("http://crm.example.com/", env) == "http://proxy.corp:3128"  # scheme added, as httpx does
    assert proxy_for("https://crm.example.com/", env) == "http://tls-proxy.corp:8080"
    assert proxy_for("http://localhost:8000/", env) is None
    assert proxy_for("https://app.internal.corp/", env) is None and proxy_for("http://internal.corp/", env) is None
    assert proxy_for("http://notinternal.corp/", env) == "http://proxy.corp:3128"
    assert proxy_for("http://10.1.2.3/", env) is None
    assert proxy_for("https://bypass.corp:8443/", env) is None and proxy_for("https://bypass.corp/", env)
    assert proxy_for("http://x/", {"HTTP_PROXY": "http://upper:1", "http_proxy": "http://lower:2"}) == "http://lower:2"
    assert proxy_for("https://x/", {"ALL_PROXY": "http://all:3"}) == "http://all:3"
    assert proxy_for("https://x/", {"all_proxy": "http://all:3", "NO_PROXY": "*"}) is None
    assert proxy_for("https://x/", {}) is None


def test_http_goes_through_the_proxy_in_absolute_form_with_credentials(server, monkeypatch):
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://corp%5Cjane:s%40cret@"))
        resp = request("GET", server.url + "/length?q=1")
        assert (resp.status, resp.body) == (200, b"by length")
        assert proxy.seen == [(f"GET {server.url}/length?q=1 HTTP/1.1", "Basic Y29ycFxqYW5lOnNAY3JldA==")]
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert request("GET", server.url + "/length").status == 200
        assert len(proxy.seen) == 1  # bypassed


def test_https_through_a_connect_tunnel_verified_against_the_given_trust(tls_server, monkeypatch):
    with ForwardProxy() as proxy:
        monkeypatch.setenv("https_proxy", proxy.url)
        resp = request("GET", tls_server.url + "/chunked", tls=tls_server.ca)
        assert (resp.status, resp.body) == (200, b"by chunks!")
        authority = tls_server.url[len("https://"):]
        assert proxy.seen == [(f"CONNECT {authority} HTTP/1.1", None)]
        with pytest.raises(HTTPError) as exc:  # the system store does not know the private CA
            request("GET", tls_server.url + "/length")
        assert exc.value.kind == "tls" and "CERTIFICATE_VERIFY_FAILED" in str(exc.value)


def test_direct_https_and_a_proxy_refusing_the_tunnel(tls_server, monkeypatch):
    assert request("POST", tls_server.url + "/events", body=b"x", tls=tls_server.ca).status == 429
    with ForwardProxy(refuse_connect=True) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        with pytest.raises(HTTPError) as exc:
            request("GET", tls_server.url + "/length", tls=tls_server.ca)
    assert exc.value.kind == "connect" and "403 Forbidden" in str(exc.value)
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(HTTPError, match="only http:// proxies"):
        request("GET", tls_server.url + "/length", tls=tls_server.ca)
