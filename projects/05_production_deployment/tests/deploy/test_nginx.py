"""NGINX in front of the app: the production config, run for real.

``deploy/nginx/nginx.conf`` is rendered for local ports and paths (only the values in
``render_config`` change; every rule comes from the real ``snippets/``) and the real nginx
serves it in front of the real app, which runs under uvicorn on loopback and trusts
``X-Forwarded-*`` from 127.0.0.1 only, as ``FORWARDED_ALLOW_IPS`` does in production.

Clients bind their own loopback address (127.0.0.x) when a test needs a client of its own:
nginx and the app then see distinct client addresses, and each such test has its own
rate-limit buckets. nginx itself reaches the app from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genai_shared.db.session import Database
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.testing.live_server import live_server
from production_deployment.core.config import Settings
from production_deployment.core.database import Base
from production_deployment.main import create_app

NGINX_DIR = Path(__file__).resolve().parents[2] / "deploy" / "nginx"
INSTALL_HINT = "run `bash scripts/ensure_tools.sh` (it installs Debian's nginx)"
PASSWORD = "correct horse battery staple"

# The app's own per-IP limit on each auth route; low, so one test can reach it.
APP_AUTH_LIMIT = 2
# A streamed reply whose events are spaced out: 12 words, one every 50 ms.
REPLY = " ".join(f"word{i}" for i in range(12))
CHUNK_DELAY = 0.05


def auth_limit() -> tuple[int, float]:
    """The auth zone's burst and its seconds per request, read from the rules themselves."""
    rules = {
        name: (NGINX_DIR / "snippets" / name).read_text() for name in ("http.conf", "app.conf")
    }
    rate = re.search(r"zone=auth:\w+ rate=(\d+)r/m;", rules["http.conf"])
    burst = re.search(r"limit_req zone=auth burst=(\d+) nodelay;", rules["app.conf"])
    assert rate, "the auth zone's rate is no longer <n>r/m: update this test"
    assert burst, "/api/v1/auth/ no longer has a nodelay burst on zone=auth: update this test"
    return int(burst.group(1)), 60 / int(rate.group(1))


def body_limits() -> tuple[int, int]:
    """nginx's client_max_body_size for the API and for document uploads, in bytes."""
    text = (NGINX_DIR / "snippets" / "app.conf").read_text()
    sizes = [int(kib) * 1024 for kib in re.findall(r"client_max_body_size (\d+)k;", text)]
    assert len(sizes) == 2, "app.conf should set two body limits (in k): the API's, the uploads'"
    api, upload = sizes
    return api, upload


# --- tools ----------------------------------------------------------------------------------


def find_tool(name: str, *fallbacks: str) -> str:
    """The tool's path; a missing tool fails the test (never skips it) and says how to fix it."""
    found = shutil.which(name) or next((p for p in fallbacks if os.access(p, os.X_OK)), None)
    if found is None:
        pytest.fail(f"{name} is not installed: {INSTALL_HINT}", pytrace=False)
    return found


@pytest.fixture(scope="module")
def nginx_binary() -> str:
    return find_tool("nginx", "/usr/sbin/nginx")


@dataclass
class Certificates:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A throw-away CA and a server certificate for ``localhost`` and 127.0.0.1."""
    openssl_binary = find_tool("openssl", "/usr/bin/openssl")
    folder = tmp_path_factory.mktemp("tls")

    def openssl(command: str) -> None:
        subprocess.run(
            [openssl_binary, *command.split()], cwd=folder, check=True, capture_output=True
        )

    new_key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
    (folder / "ca.ext").write_text(
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n"
    )
    (folder / "leaf.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    )
    openssl(f"req {new_key} -keyout ca.key -out ca.csr -subj /CN=nginx-test-ca")
    openssl("x509 -req -in ca.csr -key ca.key -out ca.pem -days 2 -extfile ca.ext")
    openssl(f"req {new_key} -keyout leaf.key -out leaf.csr -subj /CN=localhost")
    openssl(
        "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem "
        "-days 2 -extfile leaf.ext"
    )
    return Certificates(ca=folder / "ca.pem", cert=folder / "leaf.pem", key=folder / "leaf.key")


# --- the app, and what reached it ---------------------------------------------------------------


@dataclass
class Seen:
    """One request as the app saw it: after uvicorn's proxy-header handling."""

    client: str
    scheme: str
    headers: dict[str, str]


@dataclass
class Recorder:
    """Wraps the app: notes each request by its X-Request-ID.

    It also drops the app's ``X-Accel-Buffering: no``, so the streaming test shows that
    nginx's own rules keep a stream flowing, not the app's header.
    """

    app: ASGIApp
    seen: dict[str, Seen] = field(default_factory=dict)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        seen = Seen(client=scope["client"][0], scheme=scope["scheme"], headers=headers)
        self.seen[headers.get("x-request-id", "")] = seen

        async def send_unmarked(message: Message) -> None:
            if message["type"] == "http.response.start":
                del MutableHeaders(scope=message)["x-accel-buffering"]
            await send(message)

        await self.app(scope, receive, send_unmarked)


@dataclass
class AppServer:
    url: str
    recorder: Recorder


@pytest.fixture(scope="module")
def app_server(
    tmp_path_factory: pytest.TempPathFactory, settings_factory: Callable[..., Settings]
) -> Iterator[AppServer]:
    """The project's app on a socket, trusting X-Forwarded-* from 127.0.0.1 only."""
    database_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('app')}/app.db"
    settings = settings_factory(database_url=database_url, rate_limit_auth=APP_AUTH_LIMIT)

    async def create_tables() -> None:
        db = Database(database_url)
        async with db.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        await db.dispose()

    asyncio.run(create_tables())
    provider = MockProvider(MockScript(reply=REPLY, chunk_delay=CHUNK_DELAY))
    recorder = Recorder(create_app(settings, registry=ProviderRegistry({"mock": provider})))
    with live_server(recorder, proxy_headers=True, forwarded_allow_ips="127.0.0.1") as url:
        yield AppServer(url, recorder)


# --- nginx ----------------------------------------------------------------------------------


@dataclass
class Nginx:
    folder: Path
    http_port: int
    https_port: int
    ca: Path

    @property
    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def client(self, source: str = "127.0.0.1", **kwargs: Any) -> httpx.Client:
        """An HTTPS client trusting the test CA, connecting from the loopback ``source``."""
        transport = httpx.HTTPTransport(verify=self.trust, local_address=source)
        return httpx.Client(base_url=self.https_url, transport=transport, timeout=10, **kwargs)

    def access_log(self, request_id: str, within: float = 2) -> dict[str, Any]:
        """The access-log entry of a request (nginx writes it once the response is sent)."""
        path = self.folder / "logs" / "access.log"
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            lines = path.read_text().splitlines() if path.exists() else []
            entries: list[dict[str, Any]] = [json.loads(line) for line in lines]
            found = [e for e in entries if e["request_id"] == request_id]
            if found:
                return found[-1]
            time.sleep(0.02)
        raise AssertionError(f"no access-log entry for request {request_id}")


@dataclass
class Rendered:
    folder: Path
    config: Path
    upstream: str
    http_port: int
    https_port: int

    def command(self, nginx_binary: str, *args: str) -> list[str]:
        """nginx in the foreground, its pid file in tmp, run as the current user."""
        main = f"daemon off; pid {self.folder}/nginx.pid;"
        if os.geteuid() == 0:
            main += " user root;"  # root's workers would otherwise run as nobody
        folder, config = str(self.folder), str(self.config)
        return [nginx_binary, "-p", folder, "-c", config, "-e", "stderr", "-g", main, *args]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_config(folder: Path, *, upstream: str, certificates: Certificates) -> Rendered:
    """The production nginx.conf with local ports, certificate, upstream and paths.

    Each production value must be found, so a change to nginx.conf that this list does not
    follow fails here instead of testing something else. The rules (snippets/) are linked in
    unchanged.
    """
    http_port, https_port = free_port(), free_port()
    (folder / "certs").mkdir(exist_ok=True)
    (folder / "logs").mkdir(exist_ok=True)
    (folder / "temp").mkdir(exist_ok=True)
    shutil.copy(certificates.cert, folder / "certs" / "fullchain.pem")
    shutil.copy(certificates.key, folder / "certs" / "privkey.pem")
    snippets = folder / "snippets"
    if not snippets.exists():
        snippets.symlink_to(NGINX_DIR / "snippets")
    # Debian's nginx has its temporary files under /var/lib/nginx: here they stay in tmp.
    temp_paths = "".join(
        f"    {kind}_temp_path {folder}/temp/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    local_values = {
        "listen 80 ": f"listen 127.0.0.1:{http_port} ",
        "listen 443 ": f"listen 127.0.0.1:{https_port} ",
        "server app:8000;": f"server {upstream};",
        "/etc/nginx/certs/": f"{folder}/certs/",
        "/var/log/nginx/": f"{folder}/logs/",
        "http {\n": "http {\n" + temp_paths,
    }
    text = (NGINX_DIR / "nginx.conf").read_text()
    for production, local in local_values.items():
        assert production in text, f"nginx.conf no longer has {production!r}: update this test"
        text = text.replace(production, local)
    config = folder / "nginx.conf"
    config.write_text(text)
    return Rendered(folder, config, upstream, http_port, https_port)


@pytest.fixture(scope="module")
def rendered(
    tmp_path_factory: pytest.TempPathFactory, app_server: AppServer, certificates: Certificates
) -> Rendered:
    upstream = app_server.url.removeprefix("http://")
    return render_config(
        tmp_path_factory.mktemp("nginx"), upstream=upstream, certificates=certificates
    )


def wait_until_listening(process: subprocess.Popen[bytes], port: int, within: float = 10) -> bool:
    """True once ``port`` accepts connections; False if nginx exited first."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (nginx's fast shutdown, workers included); SIGKILL to its group if it hangs."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def start_nginx(nginx_binary: str, config: Rendered) -> subprocess.Popen[bytes] | None:
    """nginx serving ``config``; None if one of its ports was taken meanwhile."""
    stderr = config.folder / "logs" / "stderr.log"
    with stderr.open("wb") as errors:
        process = subprocess.Popen(
            config.command(nginx_binary),
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )
    if wait_until_listening(process, config.https_port):
        return process
    stop(process)
    message = stderr.read_text()
    if "Address already in use" in message:
        return None
    pytest.fail(f"nginx did not start:\n{message}", pytrace=False)


@pytest.fixture(scope="module")
def nginx(nginx_binary: str, rendered: Rendered, certificates: Certificates) -> Iterator[Nginx]:
    """The real nginx, in the foreground, stopped when the module's tests are done."""
    config = rendered
    process = start_nginx(nginx_binary, config)
    for _attempt in range(2):  # a free port can be taken before nginx binds it: pick again
        if process is not None:
            break
        config = render_config(config.folder, upstream=config.upstream, certificates=certificates)
        process = start_nginx(nginx_binary, config)
    if process is None:
        pytest.fail("nginx found no free ports in 3 attempts", pytrace=False)
    try:
        yield Nginx(config.folder, config.http_port, config.https_port, certificates.ca)
    finally:
        stop(process)


# --- a signed-in user ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bearer(nginx: Nginx) -> dict[str, str]:
    """Sign up and log in through nginx (from 127.0.0.1: one call per auth route)."""
    email = "edge@example.com"
    with nginx.client() as client:
        body = {"email": email, "display_name": "Edge", "password": PASSWORD}
        assert client.post("/api/v1/auth/signup", json=body).status_code == 201
        login = client.post("/api/v1/auth/login", data={"username": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def request_id() -> str:
    return f"test-{uuid.uuid4().hex}"


# --- the tests ------------------------------------------------------------------------------


def test_the_rendered_production_config_passes_nginx_t(
    nginx_binary: str, rendered: Rendered
) -> None:
    result = subprocess.run(
        rendered.command(nginx_binary, "-t"), capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def test_http_redirects_to_https_with_301_keeping_host_and_uri(nginx: Nginx) -> None:
    with httpx.Client(base_url=nginx.http_url, timeout=5) as client:
        moved = client.post(
            "/api/v1/conversations?limit=5", headers={"Host": f"api.example.com:{nginx.http_port}"}
        )
        health = client.get("/nginx-health")
    assert moved.status_code == 301
    assert moved.headers["location"] == "https://api.example.com/api/v1/conversations?limit=5"
    assert (health.status_code, health.json()) == (200, {"status": "ok"})


def test_tls_with_the_test_ca_sends_hsts_and_no_version(nginx: Nginx) -> None:
    with nginx.client() as client:
        response = client.get("/health/live")
    assert response.status_code == 200
    assert response.headers["strict-transport-security"].startswith("max-age=63072000")
    assert response.headers["server"] == "nginx"  # server_tokens off; uvicorn's is replaced
    with httpx.Client(timeout=5) as untrusting, pytest.raises(httpx.ConnectError):
        untrusting.get(f"{nginx.https_url}/health/live")  # the system CAs do not know ours


def handshake(nginx: Nginx, version: ssl.TLSVersion) -> str | None:
    """The protocol a client pinned to ``version`` agrees on with nginx."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0 and 1.1, on purpose
        context = ssl.create_default_context(cafile=str(nginx.ca))
        context.minimum_version = context.maximum_version = version
        # OpenSSL 3 refuses TLS < 1.2 at its default security level: lower it, so the
        # refusal measured is the server's.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with (
        socket.create_connection(("127.0.0.1", nginx.https_port), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname="localhost") as tls,
    ):
        return tls.version()


@pytest.mark.parametrize(
    ("version", "name"),
    [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")],
)
def test_tls_1_2_and_1_3_are_accepted(nginx: Nginx, version: ssl.TLSVersion, name: str) -> None:
    assert handshake(nginx, version) == name


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_tls_1_1_and_older_are_refused(nginx: Nginx, version: str) -> None:
    with pytest.raises(ssl.SSLError):
        handshake(nginx, getattr(ssl.TLSVersion, version))


def test_json_routes_work_through_the_proxy(
    nginx: Nginx, app_server: AppServer, bearer: dict[str, str]
) -> None:
    rid = request_id()
    with nginx.client() as client:
        live = client.get("/health/live")
        me = client.get("/api/v1/users/me", headers={**bearer, "X-Request-ID": rid})
    assert live.json()["status"] == "ok"
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "edge@example.com"
    assert me.headers["x-request-id"] == rid  # the caller's id, through nginx and the app
    assert app_server.recorder.seen[rid].scheme == "https"  # X-Forwarded-Proto believed
    entry = nginx.access_log(rid)
    assert (entry["status"], entry["upstream_status"]) == (200, "200")
    assert (entry["method"], entry["uri"], entry["tls"]) == ("GET", "/api/v1/users/me", "TLSv1.3")


def test_nginx_gives_a_request_without_an_id_one_the_app_keeps(
    nginx: Nginx, app_server: AppServer
) -> None:
    with nginx.client() as client:
        response = client.get("/health/live", headers={"X-Request-ID": "not valid!"})
    rid = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)  # nginx's $request_id
    assert rid in app_server.recorder.seen
    assert nginx.access_log(rid)["uri"] == "/health/live"


@dataclass
class StreamTiming:
    """Seconds from sending the request to each event's arrival, and the response."""

    events: list[tuple[str, float]]
    response: httpx.Response

    def first(self, name: str) -> float:
        return next(t for n, t in self.events if n == name)

    def summary(self) -> str:
        return (
            f"first event {self.events[0][1] * 1000:.0f} ms, first delta "
            f"{self.first('delta') * 1000:.0f} ms, done {self.first('done') * 1000:.0f} ms"
        )


def time_stream(client: httpx.Client, path: str, headers: dict[str, str]) -> StreamTiming:
    body = {"content": "stream please", "stream": True}
    started = time.perf_counter()
    events: list[tuple[str, float]] = []
    with client.stream("POST", path, json=body, headers=headers) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("event: "):
                events.append((line.removeprefix("event: "), time.perf_counter() - started))
    return StreamTiming(events, response)


def test_a_streamed_chat_turn_is_not_held_back(
    nginx: Nginx, app_server: AppServer, bearer: dict[str, str]
) -> None:
    """The first event comes through nginx long before the stream ends (12 deltas, 50 ms apart).

    The recorder drops the app's X-Accel-Buffering header: only nginx's own rules are tested.
    Timings are printed (pytest -s), not held to targets: those belong in benchmarks. The
    app's first turn warms it up (imports, token counting) and is not measured.
    """
    with httpx.Client(base_url=app_server.url, timeout=10, headers=bearer) as direct:
        conversation = direct.post("/api/v1/conversations", json={"title": "edge"})
        path = f"/api/v1/conversations/{conversation.json()['id']}/chat"
        time_stream(direct, path, {})
        timing_direct = time_stream(direct, path, {})
    with nginx.client(headers=bearer) as proxied:
        timing_proxied = time_stream(proxied, path, {"Accept-Encoding": "gzip"})
    print(f"\nSSE direct:      {timing_direct.summary()}")
    print(f"SSE via nginx:   {timing_proxied.summary()}")

    names = [name for name, _ in timing_proxied.events]
    assert names == ["start", *["delta"] * len(REPLY.split()), "done"]
    assert timing_proxied.first("delta") < timing_proxied.first("done") / 2
    headers = timing_proxied.response.headers
    assert headers["content-type"].startswith("text/event-stream")
    assert "content-encoding" not in headers  # never gzipped, though the client accepts it
    assert "x-accel-buffering" not in headers


def test_gzip_compresses_large_json(nginx: Nginx) -> None:
    """The other side of the stream test: gzip is on where it cannot hold events back."""
    with nginx.client() as client:
        response = client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"


def test_the_app_sees_the_client_address_and_not_a_spoofed_one(
    nginx: Nginx, app_server: AppServer
) -> None:
    """The app's auth limiter counts per client address; a client-sent X-Forwarded-For
    neither lets a limited client out nor gets another client blamed."""

    def refresh(source: str, spoofed: str | None = None) -> tuple[int, Seen]:
        rid = request_id()
        headers = {"X-Request-ID": rid}
        if spoofed:
            headers["X-Forwarded-For"] = spoofed
        with nginx.client(source=source) as client:
            response = client.post(
                "/api/v1/auth/refresh", json={"refresh_token": "bogus"}, headers=headers
            )
        return response.status_code, app_server.recorder.seen[rid]

    statuses = [refresh("127.0.0.2")[0] for _ in range(APP_AUTH_LIMIT)]
    limited, seen = refresh("127.0.0.2", spoofed="203.0.113.7")
    framed, other = refresh("127.0.0.3", spoofed="127.0.0.2")

    assert statuses == [401] * APP_AUTH_LIMIT
    assert limited == 429  # the app's own limit (it reached the app): the spoof did not help
    assert seen.client == "127.0.0.2"
    assert seen.headers["x-forwarded-for"] == "127.0.0.2"  # replaced, not appended to
    assert seen.headers["x-real-ip"] == "127.0.0.2"
    assert seen.headers["x-forwarded-proto"] == "https"
    assert seen.headers["x-forwarded-host"] == "127.0.0.1"
    assert framed == 401  # 127.0.0.3 has its own count, whatever it claims
    assert other.client == "127.0.0.3"


def test_the_app_trusts_forwarded_headers_only_from_nginx(app_server: AppServer) -> None:
    """Straight to the app from another address, X-Forwarded-For is ignored: only the proxy
    may say who the client is (forwarded_allow_ips here, FORWARDED_ALLOW_IPS in production)."""
    rid = request_id()
    transport = httpx.HTTPTransport(local_address="127.0.0.4")
    with httpx.Client(base_url=app_server.url, transport=transport, timeout=5) as client:
        client.get("/health/live", headers={"X-Forwarded-For": "203.0.113.7", "X-Request-ID": rid})
    assert app_server.recorder.seen[rid].client == "127.0.0.4"


def test_auth_routes_get_429_past_the_burst(nginx: Nginx, app_server: AppServer) -> None:
    """From a fresh address: 1 + burst calls reach the app, the rest nginx refuses itself.

    Whether a call reached the app is what tells the two limits apart: the app's own
    per-route limit (APP_AUTH_LIMIT) answers 429 too, from the third login on.
    """
    burst, interval = auth_limit()
    outcomes: list[tuple[int, bool]] = []
    started = time.monotonic()
    with nginx.client(source="127.0.0.5") as client:
        for _ in range(burst + 4):
            rid = request_id()
            response = client.post("/api/v1/auth/login", data={}, headers={"X-Request-ID": rid})
            outcomes.append((response.status_code, rid in app_server.recorder.seen))
    elapsed = time.monotonic() - started

    reached = [status for status, reached_app in outcomes if reached_app]
    refused = [status for status, reached_app in outcomes if not reached_app]
    # Past the burst, one more call is let through per interval the loop took.
    assert burst + 1 <= len(reached) <= burst + 1 + int(elapsed / interval)
    assert refused
    assert set(refused) == {429}
    assert outcomes[-1] == (429, False)
    assert response.json()["error"]["type"] == "RateLimitExceeded"


def test_bodies_over_the_limit_get_413_from_nginx(
    nginx: Nginx, app_server: AppServer, bearer: dict[str, str]
) -> None:
    """Refused by nginx before the app sees a byte: declared or chunked, API or upload."""
    api_limit, upload_limit = body_limits()
    upload = f"/api/v1/collections/{uuid.uuid4()}/documents"

    def post(path: str, size: int, *, chunked: bool = False) -> tuple[int, bool]:
        rid = request_id()
        body = b"x" * size
        content: Any = (
            iter([body[i : i + 65536] for i in range(0, size, 65536)]) if chunked else body
        )
        with nginx.client(headers={**bearer, "X-Request-ID": rid}) as client:
            response = client.post(path, content=content)
        if response.status_code == 413:
            assert response.json()["error"]["type"] == "ContentTooLarge"
        return response.status_code, rid in app_server.recorder.seen

    assert post("/api/v1/conversations", api_limit)[1]  # at the limit: the app answers
    assert post("/api/v1/conversations", api_limit + 1) == (413, False)
    assert post("/api/v1/conversations", api_limit + 1, chunked=True) == (413, False)
    assert post(upload, 4 * api_limit)[1]  # an upload may be larger
    assert post(upload, upload_limit + 1) == (413, False)


def test_the_body_limits_mirror_the_app() -> None:
    """MAX_REQUEST_BODY_BYTES, and INGEST_MAX_UPLOAD_BYTES plus the 64 KiB of multipart
    framing production_deployment.main allows an upload."""
    defaults = Settings.model_fields
    api, upload = body_limits()
    assert api == defaults["max_request_body_bytes"].default
    assert upload == defaults["ingest_max_upload_bytes"].default + 64 * 1024


def test_metrics_are_refused_from_outside(nginx: Nginx, app_server: AppServer) -> None:
    """Refused whichever way the path is spelled (the app decodes %6D to m and would serve
    it); Prometheus still scrapes the app directly."""
    spellings = ["/metrics", "/metrics/", "/%6Detrics", "/metrics?format=text"]
    with nginx.client() as client:
        outside = {path: client.get(f"{nginx.https_url}{path}") for path in spellings}
    with httpx.Client(base_url=app_server.url, timeout=5) as direct:
        inside = direct.get("/%6Detrics")
    assert {path: r.status_code for path, r in outside.items()} == dict.fromkeys(spellings, 403)
    refusal = outside["/metrics"]
    assert refusal.json()["error"]["type"] == "Forbidden"  # nginx's, in the app's envelope
    assert "strict-transport-security" in refusal.headers  # HSTS on errors too (always)
    assert inside.status_code == 200
    assert "rate_limited_requests" in inside.text
