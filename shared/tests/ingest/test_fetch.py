"""SSRF-safe fetching: hostile URLs refused, the connection pinned, redirects re-checked.

Every byte of test traffic stays on 127.0.0.0/8: names are answered by ``FakeDNS`` (no
real DNS query leaves the machine), and ``LoopbackOnlyTransport`` raises before a
connection to any other address could be opened, so even a broken fetcher cannot reach
10.x or 169.254.169.254 from here.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from genai_shared.ingest.fetch import (
    FetchedDocument,
    FetchError,
    FetchFailed,
    FetchPolicy,
    FetchTimedOut,
    FetchTooLarge,
    UnsafeURL,
    address_problem,
    fetch_url,
    parse_content_type,
)

SLOW_CHUNKS = 100  # the slow body stops by itself after about SLOW_CHUNKS * 0.1 s
BIG_CHUNK = 16 * 1024
BIG_CHUNKS = 64


@dataclass
class Seen:
    """What one server received: the path and Host header of each request, and TLS SNI."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read ``Seen`` instead."""

    def do_GET(self) -> None:
        self.server.seen.requests.append((self.path, self.headers.get("Host", "")))
        url = urlsplit(self.path)
        route = url.path
        if route == "/doc":
            body = (
                "<html><body>caf\xe9 <a href='/tracker'>x</a>"
                "<img src='http://127.0.0.1/pixel'> ![m](/tracker.png)</body></html>"
            ).encode("latin-1")
            self._reply(200, body, "text/html; charset=ISO-8859-1")
        elif route.startswith("/redirect/"):
            remaining = int(route.rsplit("/", 1)[1])
            self._redirect(f"/redirect/{remaining - 1}" if remaining > 1 else "/doc")
        elif route == "/to":
            self._redirect(parse_qs(url.query)["location"][0])
        elif route == "/big":
            self._stream(b"x" * BIG_CHUNK for _ in range(BIG_CHUNKS))
        elif route == "/big-declared":
            self._reply(200, b"x" * 100, "text/plain", length=50_000_000)
        elif route == "/slow":
            self._stream(_slow_chunks())
        elif route == "/binary":
            self._reply(200, b"\x7fELF", "application/octet-stream")
        else:
            self._reply(404, b"not here", "text/plain")

    def _reply(
        self, status: int, body: bytes, content_type: str, length: int | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    def _stream(self, chunks: Iterator[bytes]) -> None:
        """A body without Content-Length: the client only learns its size by reading it."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for chunk in chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:  # the client gave up: that is the point of the test
            return


def _slow_chunks() -> Iterator[bytes]:
    for _ in range(SLOW_CHUNKS):
        yield b"x"
        time.sleep(0.1)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], tls: ssl.SSLContext | None) -> None:
        self.seen = Seen()
        super().__init__(address, _Handler)
        if tls is not None:
            tls.sni_callback = self._record_sni
            self.socket = tls.wrap_socket(self.socket, server_side=True)

    def _record_sni(self, _sock: Any, server_name: str | None, _context: Any) -> None:
        self.seen.sni.append(server_name)


@dataclass
class LocalServer:
    host: str
    port: int
    seen: Seen


@contextmanager
def serve(host: str, port: int = 0, tls: ssl.SSLContext | None = None) -> Iterator[LocalServer]:
    """Run the test server on ``host:port`` (loopback only) in a thread."""
    assert ipaddress.ip_address(host).is_loopback
    server = _Server((host, port), tls)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield LocalServer(host=host, port=server.server_address[1], seen=server.seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def site() -> Iterator[LocalServer]:
    with serve("127.0.0.1") as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_seen(request: pytest.FixtureRequest) -> None:
    """Each test reads only its own requests from the module's shared servers."""
    for name in ("site", "tls_site"):
        if name in request.fixturenames:
            server: LocalServer = request.getfixturevalue(name)
            server.seen.requests.clear()
            server.seen.sni.clear()


@pytest.fixture
def twin_sites() -> Iterator[tuple[LocalServer, LocalServer]]:
    """Two servers on the same port: the real one on 127.0.0.1, an impostor on 127.0.0.2.

    A fetcher that connected to anything but the address it checked would land on the
    impostor, which the rebinding tests watch.
    """
    for _ in range(20):
        with serve("127.0.0.1") as real:
            try:
                impostor_cm = serve("127.0.0.2", real.port)
                impostor = impostor_cm.__enter__()
            except OSError:
                continue
            try:
                yield real, impostor
            finally:
                impostor_cm.__exit__(None, None, None)
            return
    pytest.fail("could not bind 127.0.0.1 and 127.0.0.2 on one port")


# --- TLS -----------------------------------------------------------------------------------


@dataclass
class Certificates:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A throw-away CA and a certificate for the name ``secure.example`` only (no IP SAN)."""
    folder = tmp_path_factory.mktemp("tls")

    def openssl(command: str) -> None:
        subprocess.run(["openssl", *command.split()], cwd=folder, check=True, capture_output=True)

    new_key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
    (folder / "ca.ext").write_text(
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n"
    )
    (folder / "leaf.ext").write_text(
        "subjectAltName=DNS:secure.example\nextendedKeyUsage=serverAuth\n"
    )
    openssl(f"req {new_key} -keyout ca.key -out ca.csr -subj /CN=fetch-test-ca")
    openssl("x509 -req -in ca.csr -key ca.key -out ca.pem -days 2 -extfile ca.ext")
    openssl(f"req {new_key} -keyout leaf.key -out leaf.csr -subj /CN=secure.example")
    openssl(
        "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem "
        "-days 2 -extfile leaf.ext"
    )
    return Certificates(ca=folder / "ca.pem", cert=folder / "leaf.pem", key=folder / "leaf.key")


@pytest.fixture(scope="module")
def tls_site(certificates: Certificates) -> Iterator[LocalServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.cert, certificates.key)
    with serve("127.0.0.1", tls=context) as server:
        yield server


@pytest.fixture
def trusting_test_ca(certificates: Certificates) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificates.ca))


# --- DNS and transport ----------------------------------------------------------------------


class FakeDNS:
    """Answers from a table; a list of answer lists is served in turn (the last one repeats).

    Unknown names fail like a real lookup would, so no query ever reaches a real resolver.
    """

    def __init__(self, table: dict[str, Sequence[str] | list[Sequence[str]]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append(host)
        entry = self.table.get(host)
        if entry is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if entry and not isinstance(entry[0], str):
            turns: list[Sequence[str]] = list(entry)  # type: ignore[arg-type]
            return turns[min(self.calls.count(host), len(turns)) - 1]
        return entry  # type: ignore[return-value]


class LoopbackOnlyTransport(httpx.AsyncBaseTransport):
    """Records each request and refuses to connect anywhere but a loopback IP literal."""

    def __init__(self, verify: ssl.SSLContext | bool = True) -> None:
        self.inner = httpx.AsyncHTTPTransport(verify=verify, trust_env=False)
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        try:
            address = ipaddress.ip_address(request.url.host)
        except ValueError:
            raise AssertionError(f"the fetcher connected by name: {request.url}") from None
        if not address.is_loopback:
            raise AssertionError(f"the fetcher tried to connect to {address}")
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    @property
    def hosts(self) -> list[str]:
        return [request.url.host for request in self.requests]


# --- the tests ----------------------------------------------------------------------------


PUBLIC = "93.184.216.34"  # a public address; never connected to (the transport forbids it)

HOSTILE_DNS = FakeDNS(
    {
        "localhost": ["127.0.0.1", "::1"],
        "metadata.google.internal": ["169.254.169.254"],
        "internal.example": ["192.168.0.10"],
        "loopback.example": ["127.0.0.1"],
        "mapped.example": ["::ffff:10.1.2.3"],
        "mixed.example": [PUBLIC, "10.0.0.1"],
        "mixed6.example": ["2606:2800:220:1:248:1893:25c8:1946", "fd00::1"],
        "public.example": [PUBLIC],
    }
)

HOSTILE_URLS = [
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/admin",
    "http://localhost/",
    "http://loopback.example/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.0.0.1/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://0/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::127.0.0.1]/",
    "http://[2002:7f00:1::]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.169.254./",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://10.0.0.5/",
    "http://172.16.3.4/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "http://internal.example/",
    "http://mapped.example/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://0.1.2.3/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://198.18.0.1/",
    "http://mixed.example/",
    "http://mixed6.example/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/_stats",
    "ftp://public.example/file",
    "dict://127.0.0.1:11211/",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http://user:pass@public.example/",
    "http://user@public.example/",
    "http:///no-host",
    "http://[not-an-ip]/",
    "http://public.example/" + "a" * 3000,
]


class TestHostileURLs:
    @pytest.mark.parametrize("url", HOSTILE_URLS)
    async def test_refused_before_any_connection(self, url: str) -> None:
        transport = LoopbackOnlyTransport()
        with pytest.raises(UnsafeURL) as refused:
            await fetch_url(url, policy=FetchPolicy(), resolver=HOSTILE_DNS, transport=transport)
        assert refused.value.reason
        assert transport.requests == []

    async def test_one_private_answer_among_public_ones_refuses(self) -> None:
        with pytest.raises(UnsafeURL, match=r"10\.0\.0\.1, a private address"):
            await fetch_url(
                "http://mixed.example/",
                policy=FetchPolicy(),
                resolver=HOSTILE_DNS,
                transport=LoopbackOnlyTransport(),
            )

    async def test_metadata_reason_is_readable(self) -> None:
        with pytest.raises(UnsafeURL, match="link-local"):
            await fetch_url(
                "http://169.254.169.254/", policy=FetchPolicy(), transport=LoopbackOnlyTransport()
            )

    async def test_numeric_spelling_is_named(self) -> None:
        with pytest.raises(UnsafeURL, match="non-standard spelling"):
            await fetch_url(
                "http://2130706433/",
                policy=FetchPolicy(),
                resolver=HOSTILE_DNS,
                transport=LoopbackOnlyTransport(),
            )

    async def test_unknown_host_fails_cleanly(self) -> None:
        with pytest.raises(FetchFailed, match="could not resolve"):
            await fetch_url("http://nowhere.example/", policy=FetchPolicy(), resolver=HOSTILE_DNS)

    async def test_unspecified_address_stays_refused_with_loopback_allowed(self) -> None:
        """0.0.0.0 reaches this machine on Linux: the test-only flag must not open it."""
        with pytest.raises(UnsafeURL):
            await fetch_url(
                "http://0.0.0.0/",
                policy=FetchPolicy(allow_loopback=True),
                transport=LoopbackOnlyTransport(),
            )


class TestAddressRules:
    @pytest.mark.parametrize(
        "address",
        ["8.8.8.8", "1.1.1.1", PUBLIC, "2606:4700:4700::1111", "::ffff:8.8.8.8"],
    )
    def test_public_addresses_pass(self, address: str) -> None:
        assert address_problem(ipaddress.ip_address(address)) is None

    @pytest.mark.parametrize(
        "address",
        ["127.0.0.1", "127.255.0.1", "::1", "::ffff:127.0.0.1", "2002:7f00:1::"],
    )
    def test_loopback_only_with_the_test_flag(self, address: str) -> None:
        ip = ipaddress.ip_address(address)
        assert address_problem(ip) is not None
        assert address_problem(ip, allow_loopback=True) is None

    @pytest.mark.parametrize(
        "address", ["10.0.0.1", "169.254.169.254", "100.100.100.200", "64:ff9b::7f00:1"]
    )
    def test_loopback_flag_opens_nothing_else(self, address: str) -> None:
        assert address_problem(ipaddress.ip_address(address), allow_loopback=True) is not None


def _public_dns(server: LocalServer, *names: str) -> FakeDNS:
    """Names that 'resolve' to the loopback test server (allowed via ``allow_loopback``)."""
    return FakeDNS({name: [server.host] for name in names})


LOCAL = FetchPolicy(allow_loopback=True, timeout_seconds=20)


class TestFetching:
    async def test_fetches_a_document(self, site: LocalServer) -> None:
        """Through the real transport (none injected), by IP literal."""
        url = f"http://127.0.0.1:{site.port}/doc"
        document = await fetch_url(url, policy=LOCAL)
        assert isinstance(document, FetchedDocument)
        assert document.url == url
        assert document.content_type == "text/html"
        assert document.charset == "iso-8859-1"
        assert document.content.decode(document.charset).startswith("<html><body>café")

    async def test_links_inside_the_document_are_not_fetched(self, site: LocalServer) -> None:
        await fetch_url(f"http://127.0.0.1:{site.port}/doc", policy=LOCAL)
        assert site.seen.paths == ["/doc"]

    async def test_connects_to_the_checked_address_with_the_original_host(
        self, site: LocalServer
    ) -> None:
        dns = _public_dns(site, "docs.example")
        transport = LoopbackOnlyTransport()
        url = f"http://docs.example:{site.port}/doc"
        document = await fetch_url(url, policy=LOCAL, resolver=dns, transport=transport)
        assert document.url == url
        assert transport.hosts == ["127.0.0.1"]
        assert site.seen.requests == [("/doc", f"docs.example:{site.port}")]

    async def test_error_status_fails(self, site: LocalServer) -> None:
        with pytest.raises(FetchFailed, match="404"):
            await fetch_url(f"http://127.0.0.1:{site.port}/missing", policy=LOCAL)

    async def test_unlisted_content_type_fails(self, site: LocalServer) -> None:
        with pytest.raises(FetchFailed, match="application/octet-stream"):
            await fetch_url(f"http://127.0.0.1:{site.port}/binary", policy=LOCAL)

    async def test_refused_server_fails_cleanly(self) -> None:
        with pytest.raises(FetchFailed, match="could not connect"):
            await fetch_url("http://127.0.0.1:1/", policy=LOCAL)


class TestPinning:
    async def test_rebinding_dns_cannot_move_the_connection(
        self, twin_sites: tuple[LocalServer, LocalServer]
    ) -> None:
        """First answer: the real server. Every later answer: the impostor.

        The fetch must reach the real server, asking the resolver only once.
        """
        real, impostor = twin_sites
        dns = FakeDNS({"rebind.example": [["127.0.0.1"], ["127.0.0.2"]]})
        transport = LoopbackOnlyTransport()
        await fetch_url(
            f"http://rebind.example:{real.port}/doc",
            policy=LOCAL,
            resolver=dns,
            transport=transport,
        )
        assert dns.calls == ["rebind.example"]
        assert real.seen.requests == [("/doc", f"rebind.example:{real.port}")]
        assert impostor.seen.requests == []

    async def test_rebinding_to_a_private_address_is_never_connected(
        self, site: LocalServer
    ) -> None:
        """Public first, then private: the private answer is never used (the transport
        would raise if the fetcher tried to connect to 10.0.0.1)."""
        dns = FakeDNS({"rebind.example": [[site.host], ["10.0.0.1"]]})
        transport = LoopbackOnlyTransport()
        document = await fetch_url(
            f"http://rebind.example:{site.port}/doc",
            policy=LOCAL,
            resolver=dns,
            transport=transport,
        )
        assert document.content
        assert transport.hosts == ["127.0.0.1"]

    async def test_tls_uses_the_original_name_for_sni_and_verification(
        self, tls_site: LocalServer, trusting_test_ca: ssl.SSLContext
    ) -> None:
        """The certificate names only secure.example, the socket goes to 127.0.0.1: the
        handshake succeeds only if SNI and the hostname check use the name."""
        dns = _public_dns(tls_site, "secure.example")
        transport = LoopbackOnlyTransport(verify=trusting_test_ca)
        url = f"https://secure.example:{tls_site.port}/doc"
        document = await fetch_url(url, policy=LOCAL, resolver=dns, transport=transport)
        assert document.url == url
        assert transport.hosts == ["127.0.0.1"]
        assert tls_site.seen.sni == ["secure.example"]
        assert tls_site.seen.requests == [("/doc", f"secure.example:{tls_site.port}")]

    async def test_tls_certificate_for_another_name_fails(
        self, tls_site: LocalServer, trusting_test_ca: ssl.SSLContext
    ) -> None:
        dns = _public_dns(tls_site, "other.example")
        transport = LoopbackOnlyTransport(verify=trusting_test_ca)
        with pytest.raises(FetchFailed, match="could not connect"):
            await fetch_url(
                f"https://other.example:{tls_site.port}/doc",
                policy=LOCAL,
                resolver=dns,
                transport=transport,
            )
        assert tls_site.seen.requests == []


class TestRedirects:
    async def test_three_redirects_are_followed(self, site: LocalServer) -> None:
        document = await fetch_url(f"http://127.0.0.1:{site.port}/redirect/3", policy=LOCAL)
        assert document.url == f"http://127.0.0.1:{site.port}/doc"
        assert site.seen.paths == ["/redirect/3", "/redirect/2", "/redirect/1", "/doc"]

    async def test_a_fourth_redirect_fails(self, site: LocalServer) -> None:
        with pytest.raises(FetchFailed, match="more than 3 redirects"):
            await fetch_url(f"http://127.0.0.1:{site.port}/redirect/4", policy=LOCAL)
        assert len(site.seen.paths) == 4

    async def test_each_hop_is_resolved_and_checked(self, site: LocalServer) -> None:
        dns = FakeDNS({"a.example": [site.host], "b.example": [site.host]})
        transport = LoopbackOnlyTransport()
        target = f"http://b.example:{site.port}/doc"
        document = await fetch_url(
            f"http://a.example:{site.port}/to?location={target}",
            policy=LOCAL,
            resolver=dns,
            transport=transport,
        )
        assert document.url == target
        assert dns.calls == ["a.example", "b.example"]
        assert [host for _, host in site.seen.requests] == [
            f"a.example:{site.port}",
            f"b.example:{site.port}",
        ]

    @pytest.mark.parametrize(
        "location",
        [
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:192.168.0.1]/",
            "http://internal.example/",
            "http://2852039166/",
            "file:///etc/passwd",
            "gopher://127.0.0.1/",
            "http://user:pass@public.example/",
        ],
    )
    async def test_redirect_to_an_unsafe_place_is_refused(
        self, site: LocalServer, location: str
    ) -> None:
        transport = LoopbackOnlyTransport()
        with pytest.raises(UnsafeURL):
            await fetch_url(
                f"http://127.0.0.1:{site.port}/to?location={location}",
                policy=LOCAL,
                resolver=HOSTILE_DNS,
                transport=transport,
            )
        assert transport.hosts == ["127.0.0.1"]
        assert site.seen.paths == [f"/to?location={location}"]


class TestCaps:
    async def test_oversize_streamed_body_is_cut_off(self, site: LocalServer) -> None:
        policy = FetchPolicy(allow_loopback=True, max_bytes=3 * BIG_CHUNK)
        with pytest.raises(FetchTooLarge, match=str(3 * BIG_CHUNK)):
            await fetch_url(f"http://127.0.0.1:{site.port}/big", policy=policy)

    async def test_oversize_declared_length_is_refused_unread(self, site: LocalServer) -> None:
        policy = FetchPolicy(allow_loopback=True, max_bytes=1000)
        with pytest.raises(FetchTooLarge):
            await fetch_url(f"http://127.0.0.1:{site.port}/big-declared", policy=policy)

    async def test_a_body_under_the_cap_is_read_whole(self, site: LocalServer) -> None:
        policy = FetchPolicy(allow_loopback=True, max_bytes=64 * BIG_CHUNK)
        document = await fetch_url(f"http://127.0.0.1:{site.port}/big", policy=policy)
        assert len(document.content) == 64 * BIG_CHUNK

    async def test_slow_body_hits_the_total_deadline(self, site: LocalServer) -> None:
        policy = FetchPolicy(allow_loopback=True, timeout_seconds=0.5)
        with pytest.raises(FetchTimedOut, match=r"0\.5 seconds"):
            await fetch_url(f"http://127.0.0.1:{site.port}/slow", policy=policy)

    async def test_every_error_is_a_fetch_error_with_a_reason(self, site: LocalServer) -> None:
        policy = FetchPolicy(allow_loopback=True, max_bytes=10)
        with pytest.raises(FetchError) as failed:
            await fetch_url(f"http://127.0.0.1:{site.port}/big", policy=policy)
        assert failed.value.reason == str(failed.value)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("text/html; charset=UTF-8", ("text/html", "utf-8")),
        ('Text/Plain;charset="ISO-8859-1"', ("text/plain", "iso-8859-1")),
        ("application/pdf", ("application/pdf", None)),
        ("", ("", None)),
    ],
)
def test_parse_content_type(header: str, expected: tuple[str, str | None]) -> None:
    assert parse_content_type(header) == expected
