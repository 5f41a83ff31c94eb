"""Fetch a user-submitted URL without letting it reach the server's own network (SSRF).

Only the URL a user submits is ever fetched. Links found inside a fetched document
(Markdown images, HTML ``<a>``/``<img>``/``<link>``, PDF annotations) are text to index,
never URLs to follow: nothing in ingestion calls ``fetch_url`` with them.

How each hop is made safe:

1. The URL must be ``http``/``https`` with no ``user:pass@`` and a real host name or a
   canonical IP literal. Numeric spellings that resolvers read as addresses
   (``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``) are refused outright.
2. The host is resolved once, by us. Every address it resolves to must be public:
   one private answer among public ones refuses the URL. IPv6 forms that carry an IPv4
   address (mapped ``::ffff:a.b.c.d``, 6to4, Teredo, NAT64) are judged by that address.
3. The connection goes to the address we checked, not to the name: the request URL
   carries the IP, while the ``Host`` header and the TLS SNI/certificate check use the
   original name. A resolver that answers differently the second time (DNS rebinding)
   is never asked a second time.
4. Redirects are followed by hand, at most ``max_redirects``, each re-checked from step 1.
5. The body is streamed and cut off past ``max_bytes``; the whole fetch, DNS included,
   has one deadline; only listed content types are accepted.

``FetchPolicy.allow_loopback`` lets tests fetch from a server on 127.0.0.1; it must stay
off in every deployed setting.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``resolver(host, port)`` returns the host's addresses as strings."""

REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
DEFAULT_CONTENT_TYPES: Final = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "text/plain",
        "text/markdown",
        "text/x-markdown",
        "text/csv",
        "application/json",
        "application/pdf",
    }
)
_CARRIER_GRADE_NAT: Final = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")
_ENDS_IN_NUMBER: Final = re.compile(r"^(?:[0-9]+|0[xX][0-9a-fA-F]*)$")


class FetchError(Exception):
    """A URL that could not be fetched; ``reason`` is shown to the user as is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnsafeURL(FetchError):
    """The URL, or an address it resolves or redirects to, is not allowed."""


class FetchTooLarge(FetchError):
    """The body is larger than the policy allows."""


class FetchTimedOut(FetchError):
    """The whole fetch, DNS and redirects included, took longer than the policy allows."""


class FetchFailed(FetchError):
    """Anything else: unresolvable host, connection error, error status, bad content type."""


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Limits for one fetch. Build it from settings; ``allow_loopback`` is for tests only."""

    max_bytes: int = 10 * 1024 * 1024
    timeout_seconds: float = 20.0
    max_redirects: int = 3
    max_url_length: int = 2048
    allowed_content_types: frozenset[str] = field(default=DEFAULT_CONTENT_TYPES)
    user_agent: str = "agentic-rag-fetcher/0.1"
    allow_loopback: bool = False


@dataclass(frozen=True, slots=True)
class FetchedDocument:
    """The body of the last response, with where it finally came from."""

    url: str
    content: bytes
    content_type: str
    charset: str | None


@dataclass(frozen=True, slots=True)
class FetchTarget:
    """One hop's URL, split into what the checks and the pinned request need."""

    url: httpx.URL
    host: str  # ASCII (IDNA) form, as sent in Host and SNI
    port: int
    literal: IPAddress | None


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the operating system's resolver, off the event loop's thread."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


async def fetch_url(
    url: str,
    *,
    policy: FetchPolicy,
    resolver: Resolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FetchedDocument:
    """Fetch ``url`` under ``policy``, or raise a ``FetchError`` whose reason says why not.

    ``resolver`` and ``transport`` exist for tests (a fake DNS, a transport that refuses
    anything but loopback); production leaves both unset.
    """
    try:
        async with asyncio.timeout(policy.timeout_seconds):
            return await _fetch(
                url, policy=policy, resolver=resolver or system_resolver, transport=transport
            )
    except TimeoutError as exc:
        raise FetchTimedOut(
            f"the fetch took longer than {policy.timeout_seconds:g} seconds"
        ) from exc


async def _fetch(
    url: str,
    *,
    policy: FetchPolicy,
    resolver: Resolver,
    transport: httpx.AsyncBaseTransport | None,
) -> FetchedDocument:
    timeout = httpx.Timeout(policy.timeout_seconds)
    async with httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,  # an environment proxy would connect by name and undo the pinning
    ) as client:
        current = url
        for hop in range(policy.max_redirects + 1):
            target = _parse_target(current, policy=policy)
            address = await _resolve_checked(target, policy=policy, resolver=resolver)
            request = _pinned_request(client, target, address, policy=policy)
            try:
                response = await client.send(request, stream=True)
            except httpx.TimeoutException as exc:
                raise FetchTimedOut(f"{target.host} did not answer in time") from exc
            except httpx.HTTPError as exc:
                raise FetchFailed(f"could not connect to {target.host}: {exc}") from exc
            try:
                if response.status_code in REDIRECT_STATUSES:
                    current = _redirect_location(target, response)
                    if hop == policy.max_redirects:
                        break
                    continue
                return await _read_document(target, response, policy=policy)
            finally:
                await response.aclose()
    raise FetchFailed(f"more than {policy.max_redirects} redirects")


def _parse_target(url: str, *, policy: FetchPolicy) -> FetchTarget:
    """Check the URL's form: scheme, credentials, host spelling, length."""
    if len(url) > policy.max_url_length:
        raise UnsafeURL(f"the URL is longer than {policy.max_url_length} characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise UnsafeURL(f"not a valid URL: {exc}") from exc
    if parsed.scheme not in {"http", "https"}:
        raise UnsafeURL(f"only http and https URLs can be fetched, not {parsed.scheme or '?'}")
    if parsed.userinfo:
        raise UnsafeURL("URLs with a user name or password are not allowed")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise UnsafeURL("the URL has no host")
    literal = _ip_literal(host)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return FetchTarget(url=parsed.copy_with(fragment=None), host=host, port=port, literal=literal)


def _ip_literal(host: str) -> IPAddress | None:
    """The host as an IP address if it is one; refuse the spellings resolvers disagree on."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise UnsafeURL(f"{host!r} is not a valid IPv6 address") from exc
    bare = host[:-1] if host.endswith(".") else host
    try:
        return ipaddress.IPv4Address(bare)
    except ValueError:
        pass
    if _ENDS_IN_NUMBER.match(bare.rsplit(".", 1)[-1]):
        raise UnsafeURL(
            f"{host!r} is a numeric address in a non-standard spelling; write it as a.b.c.d"
        )
    return None


async def _resolve_checked(
    target: FetchTarget, *, policy: FetchPolicy, resolver: Resolver
) -> IPAddress:
    """Resolve once and return the address to connect to; refuse if ANY answer is unsafe."""
    if target.literal is not None:
        addresses: list[IPAddress] = [target.literal]
    else:
        try:
            answers = await resolver(target.host, target.port)
        except (OSError, UnicodeError) as exc:
            raise FetchFailed(f"could not resolve {target.host}") from exc
        try:
            addresses = [ipaddress.ip_address(answer) for answer in answers]
        except ValueError as exc:
            raise FetchFailed(
                f"{target.host} resolved to something that is not an address"
            ) from exc
        if not addresses:
            raise FetchFailed(f"{target.host} has no addresses")
    for address in addresses:
        problem = address_problem(address, allow_loopback=policy.allow_loopback)
        if problem is not None:
            raise UnsafeURL(f"{target.host} resolves to {address}, {problem}")
    return addresses[0]


def address_problem(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why connecting to ``address`` is not allowed, or ``None`` when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address_problem(address.ipv4_mapped, allow_loopback=allow_loopback)
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            problem = address_problem(embedded, allow_loopback=allow_loopback)
            if problem is not None:
                return f"which carries {embedded}, {problem}"
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    if address.is_unspecified:
        return "the unspecified address (it means this machine)"
    if address.is_link_local:
        return "a link-local address (cloud metadata services live here)"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CARRIER_GRADE_NAT:
        return "a carrier-grade NAT address"
    if address.is_private:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address that 6to4, Teredo, NAT64 or IPv4-compatible forms route to."""
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _pinned_request(
    client: httpx.AsyncClient, target: FetchTarget, address: IPAddress, *, policy: FetchPolicy
) -> httpx.Request:
    """A GET to the checked address that still names the original host to the server."""
    default_port = 443 if target.url.scheme == "https" else 80
    host_header = f"[{target.host}]" if ":" in target.host else target.host
    if target.port != default_port:
        host_header = f"{host_header}:{target.port}"
    headers = {
        "Host": host_header,
        "User-Agent": policy.user_agent,
        "Accept": ", ".join(sorted(policy.allowed_content_types)),
        "Accept-Encoding": "identity",
        "Connection": "close",  # no connection (and its TLS session) is reused for another host
    }
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    return client.build_request(
        "GET", target.url.copy_with(host=str(address)), headers=headers, extensions=extensions
    )


def _redirect_location(target: FetchTarget, response: httpx.Response) -> str:
    location = response.headers.get("Location")
    if not location:
        raise FetchFailed(f"{target.host} redirected without a Location")
    try:
        return str(target.url.join(location))
    except (httpx.InvalidURL, ValueError) as exc:
        raise UnsafeURL(f"{target.host} redirected to an invalid URL") from exc


async def _read_document(
    target: FetchTarget, response: httpx.Response, *, policy: FetchPolicy
) -> FetchedDocument:
    if not 200 <= response.status_code < 300:
        raise FetchFailed(f"{target.host} answered with HTTP status {response.status_code}")
    content_type, charset = parse_content_type(response.headers.get("Content-Type", ""))
    if content_type not in policy.allowed_content_types:
        raise FetchFailed(f"content type {content_type or 'unknown'!r} is not accepted")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise FetchTooLarge(f"the document is larger than {policy.max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > policy.max_bytes:
                raise FetchTooLarge(f"the document is larger than {policy.max_bytes} bytes")
            chunks.append(chunk)
    except httpx.TimeoutException as exc:
        raise FetchTimedOut(f"{target.host} stopped sending the document") from exc
    except httpx.HTTPError as exc:
        raise FetchFailed(f"reading from {target.host} failed: {exc}") from exc
    return FetchedDocument(
        url=str(target.url), content=b"".join(chunks), content_type=content_type, charset=charset
    )


def parse_content_type(header: str) -> tuple[str, str | None]:
    """``"text/html; charset=UTF-8"`` -> ``("text/html", "utf-8")``."""
    mime, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"').lower()
    return mime.strip().lower(), charset
