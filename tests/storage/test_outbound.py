"""Every outbound fetch (feeds and enclosures alike) connects to the address it checked.

Real servers on loopback stand in for the internet: 127.0.0.1 is the internal service an
attacker wants to reach, and 127.0.0.2 plays a public host. The only test seams are the
resolver (what a name answers, and how often it was asked) and, where a "public" server is
needed, a policy that calls 127.0.0.2 public and asks the production policy about every other
address; the hop loop, the pinning and the TLS checks are the production ones.
"""

from __future__ import annotations

import ipaddress
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tellmemore.catalog import FeedFetcher
from tellmemore.catalog.feeds.addresses import AddressPolicy, IPAddress, is_forbidden
from tellmemore.catalog.feeds.fetch import make_http_client
from tellmemore.errors import FeedError
from tellmemore.processing import DownloadLimits, ProcessingError, download_enclosure
from tellmemore.processing.download import make_download_client
from tellmemore.settings import FeedSettings

PUBLIC_STAND_IN = ipaddress.ip_address("127.0.0.2")
AUDIO = b"ID3" + bytes(200)
FEED = b"<rss><channel><title>t</title></channel></rss>"
SETTINGS = FeedSettings(
    connect_timeout_s=1.0, read_timeout_s=2.0, total_timeout_s=5.0, max_redirects=3
)
LIMITS = DownloadLimits(
    max_bytes=64 * 1024, total_timeout_s=5.0, connect_timeout_s=1.0, read_timeout_s=2.0,
    max_redirects=3,
)  # fmt: skip
# What each refusal is called on either path.
CODES = {
    "feed": {"forbidden": "url_host_forbidden", "scheme": "url_scheme_not_allowed",
             "invalid": "url_invalid", "unreachable": "feed_unreachable"},
    "enclosure": {"forbidden": "enclosure_blocked_host", "scheme": "enclosure_bad_url",
                  "invalid": "enclosure_bad_url", "unreachable": "enclosure_unreachable"},
}  # fmt: skip


class Fetch(Protocol):
    """A feed fetch or an enclosure download; the final URL, or a refusal raised."""

    async def __call__(
        self, url: str, policy: AddressPolicy, http: httpx.AsyncClient | None = None
    ) -> str: ...


class Server:
    """An HTTP(S) server on one loopback address that records the path, ``Host`` and TLS
    server name of everything that reaches it."""

    def __init__(self, address: str, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.seen: list[tuple[str, str]] = []
        self.cookies: list[str | None] = []
        self.server_names: list[str | None] = []
        self.routes: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.seen.append((self.path, self.headers.get("Host", "")))
                outer.cookies.append(self.headers.get("Cookie"))
                status, body, headers = outer.routes.get(self.path, (404, b"", {}))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: outer.server_names.append(name)
        self._httpd = ThreadingHTTPServer((address, port), Handler)
        self._httpd.daemon_threads = True
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def serve(self, path: str, body: bytes, content_type: str = "audio/mpeg", **more: str) -> None:
        self.routes[path] = (200, body, {"Content-Type": content_type, **more})

    def redirect(self, path: str, location: str) -> None:
        self.routes[path] = (302, b"", {"Location": location})

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def internal() -> Iterator[Server]:
    """The service an attacker wants to reach."""
    server = Server("127.0.0.1")
    server.serve("/x", AUDIO)
    yield server
    server.stop()


@pytest.fixture
def public(internal: Server) -> Iterator[Server]:
    """A "public" host on 127.0.0.2, on the same port as the internal one: only the address
    the client connects to decides which of the two answers."""
    server = Server(str(PUBLIC_STAND_IN), internal.port)
    server.serve("/x", AUDIO)
    yield server
    server.stop()


def _stand_in_is_public(ip: IPAddress) -> bool:
    return ip != PUBLIC_STAND_IN and is_forbidden(ip)


class Resolver:
    """Answers from a script, one answer per call (the last one repeats); counts the calls."""

    def __init__(self, **names: list[list[str]]) -> None:
        self._names = {name.replace("_", "."): answers for name, answers in names.items()}
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        answers = self._names[host]
        asked = sum(1 for h in self.calls if h == host)
        self.calls.append(host)
        return answers[min(asked, len(answers) - 1)]


async def _feed(url: str, policy: AddressPolicy, http: httpx.AsyncClient | None = None) -> str:
    if http is None:
        async with make_http_client(SETTINGS) as own:
            return await _feed(url, policy, own)
    return (await FeedFetcher(SETTINGS, http, addresses=policy).fetch(url)).final_url


def _enclosure(folder: Path) -> Fetch:
    async def fetch(url: str, policy: AddressPolicy, http: httpx.AsyncClient | None = None) -> str:
        dest = folder / "ep.mp3"
        got = await download_enclosure(url, dest, LIMITS, client=http, addresses=policy)
        return got.final_url

    return fetch


def _client(kind: str, verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """The production client factory of either path (shared across fetches there too)."""
    if kind == "feed":
        return make_http_client(SETTINGS, verify=verify)
    return make_download_client(LIMITS, verify=verify)


@pytest.fixture(params=["feed", "enclosure"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fetch(kind: str, tmp_path: Path) -> Fetch:
    return _feed if kind == "feed" else _enclosure(tmp_path)


async def _refused(
    fetch: Fetch, url: str, policy: AddressPolicy, http: httpx.AsyncClient | None = None
) -> str:
    with pytest.raises((FeedError, ProcessingError)) as caught:
        await fetch(url, policy, http)
    assert isinstance(caught.value, FeedError | ProcessingError)
    return caught.value.code


async def test_a_rebinding_name_is_resolved_once_and_never_reaches_the_internal_service(
    fetch: Fetch, kind: str, internal: Server, public: Server
) -> None:
    # Public to the check, loopback to anyone who asks again: the old fetchers asked twice.
    resolver = Resolver(rebind_example_test=[["127.0.0.2"], ["127.0.0.1"]])
    policy = AddressPolicy(resolve=resolver, forbidden=_stand_in_is_public)
    url = f"http://rebind.example.test:{internal.port}/x"
    assert await fetch(url, policy) == url
    assert resolver.calls == ["rebind.example.test"]
    assert public.seen == [("/x", f"rebind.example.test:{internal.port}")]
    assert internal.seen == []
    # A redirect back to the same name is a new hop: asked again, it answers loopback now.
    public.redirect("/hop", url)
    hop = f"http://rebind.example.test:{internal.port}/hop"
    assert await _refused(fetch, hop, policy) == CODES[kind]["forbidden"]
    assert internal.seen == []


async def test_a_redirect_to_an_internal_address_is_refused_before_connecting(
    fetch: Fetch, kind: str, internal: Server, public: Server
) -> None:
    resolver = Resolver(
        public_example_test=[["127.0.0.2"]], internal_example_test=[["10.0.0.7", "127.0.0.1"]]
    )
    policy = AddressPolicy(resolve=resolver, forbidden=_stand_in_is_public)
    start = f"http://public.example.test:{internal.port}/go"
    for target in (
        f"http://127.0.0.1:{internal.port}/x",
        f"http://internal.example.test:{internal.port}/x",
        f"http://[::ffff:127.0.0.1]:{internal.port}/x",
        f"http://0x7f.1:{internal.port}/x",
    ):
        public.redirect("/go", target)
        assert await _refused(fetch, start, policy) == CODES[kind]["forbidden"], target
    assert internal.seen == []
    # The same chain to a public target is followed, every hop pinned to its own answer.
    public.redirect("/go", f"http://public.example.test:{internal.port}/x")
    assert await fetch(start, policy) == f"http://public.example.test:{internal.port}/x"
    assert [path for path, _ in public.seen[-2:]] == ["/go", "/x"]


async def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(
    fetch: Fetch, internal: Server
) -> None:
    # No real resolver knows this name: success means the client used our answer, not its own.
    resolver = Resolver(feeds_example_test=[["127.0.0.1"]])
    url = f"http://feeds.example.test:{internal.port}/x"
    assert await fetch(url, AddressPolicy(allow_private=True, resolve=resolver)) == url
    assert internal.seen == [("/x", f"feeds.example.test:{internal.port}")]


async def test_the_next_checked_address_is_tried_when_one_refuses_connections(
    fetch: Fetch, internal: Server
) -> None:
    resolver = Resolver(feeds_example_test=[["127.0.0.3", "127.0.0.1"]])  # nothing on .3
    url = f"http://feeds.example.test:{internal.port}/x"
    assert await fetch(url, AddressPolicy(allow_private=True, resolve=resolver)) == url
    assert internal.seen == [("/x", f"feeds.example.test:{internal.port}")]


async def test_cookies_are_not_kept_since_the_pool_would_key_them_by_address(
    fetch: Fetch, kind: str, internal: Server
) -> None:
    internal.serve("/c", AUDIO, **{"Set-Cookie": "session=one-publisher; Path=/"})
    resolver = Resolver(a_example_test=[["127.0.0.1"]], b_example_test=[["127.0.0.1"]])
    policy = AddressPolicy(allow_private=True, resolve=resolver)
    async with _client(kind) as http:
        for name in ("a", "b", "a"):
            await fetch(f"http://{name}.example.test:{internal.port}/c", policy, http)
    assert internal.cookies == [None, None, None]


@pytest.mark.parametrize(
    ("host", "refusal"),
    [
        ("[::ffff:127.0.0.1]", "forbidden"),
        ("2130706433", "forbidden"),
        ("0177.0.0.1", "forbidden"),
        ("0x7f.1", "forbidden"),
        ("127.1", "forbidden"),
        ("[64:ff9b::7f00:1]", "forbidden"),  # NAT64 of loopback
        ("[2002:7f00:1::]", "forbidden"),  # 6to4 of loopback
        ("0xa9fea9fe", "forbidden"),  # 169.254.169.254, the cloud metadata service
        ("08.0.0.1", "invalid"),
        ("127.0.0.1.1", "invalid"),
    ],
)
async def test_loopback_spellings_are_refused(
    fetch: Fetch, kind: str, internal: Server, host: str, refusal: str
) -> None:
    url = f"http://{host}:{internal.port}/x"
    assert await _refused(fetch, url, AddressPolicy()) == CODES[kind][refusal]
    assert internal.seen == []


@pytest.mark.parametrize(
    ("url", "as_redirect"),
    [
        ("file:///etc/passwd", "scheme"),
        ("gopher://127.0.0.1:6379/_INFO", "scheme"),
        ("ftp://127.0.0.1/x", "scheme"),
        ("dict://127.0.0.1:11211/stat", "scheme"),
        # No authority: httpx itself cannot read these as a Location, so they are invalid there.
        ("javascript:alert(1)", "invalid"),
        ("data:audio/mpeg;base64,SUQz", "invalid"),
    ],
)
async def test_other_schemes_are_refused_first_hand_and_as_redirects(
    fetch: Fetch, kind: str, internal: Server, public: Server, url: str, as_redirect: str
) -> None:
    resolver = Resolver(public_example_test=[["127.0.0.2"]])
    policy = AddressPolicy(resolve=resolver, forbidden=_stand_in_is_public)
    assert await _refused(fetch, url, policy) == CODES[kind]["scheme"]
    public.redirect("/go", url)
    start = f"http://public.example.test:{internal.port}/go"
    assert await _refused(fetch, start, policy) == CODES[kind][as_redirect]
    assert internal.seen == []


def _tls(folder: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway certificate authority and a certificate for ``name`` only (no address):
    (the server's context, a client context that trusts the authority)."""
    now = datetime.now(UTC)

    def cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
             signer: ec.EllipticCurvePrivateKey, ca: bool) -> x509.Certificate:  # fmt: skip
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
            )
        )
        if ca:
            usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
            builder = builder.add_extension(usage, critical=True)
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tell Me More test CA")])
    ca = cert("Tell Me More test CA", ca_key, ca_name, ca_key, ca=True)
    leaf = cert(name, leaf_key, ca_name, ca_key, ca=False)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "leaf.key").write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "leaf.pem", folder / "leaf.key")
    return server, ssl.create_default_context(cafile=str(folder / "ca.pem"))


async def test_https_is_pinned_and_the_certificate_is_checked_against_the_name(
    fetch: Fetch, kind: str, tmp_path: Path
) -> None:
    server_tls, trust = _tls(tmp_path, "feeds.example.test")
    server = Server("127.0.0.1", tls=server_tls)
    try:
        if kind == "enclosure":
            server.serve("/x", AUDIO)
        else:
            server.serve("/x", FEED, "text/xml")
        resolver = Resolver(feeds_example_test=[["127.0.0.1"]], other_example_test=[["127.0.0.1"]])
        policy = AddressPolicy(allow_private=True, resolve=resolver)
        # One client for all three fetches, as in production: its pool keys on the address.
        async with _client(kind, verify=trust) as http:
            url = f"https://feeds.example.test:{server.port}/x"
            assert await fetch(url, policy, http) == url
            assert server.seen == [("/x", f"feeds.example.test:{server.port}")]
            assert server.server_names == ["feeds.example.test"]
            # Another name on the same address and port, which the certificate does not name:
            # no connection verified for the first name may carry it.
            other = f"https://other.example.test:{server.port}/x"
            assert await _refused(fetch, other, policy, http) == CODES[kind]["unreachable"]
            # The address itself is no name the certificate vouches for either.
            by_address = f"https://127.0.0.1:{server.port}/x"
            assert await _refused(fetch, by_address, policy, http) == CODES[kind]["unreachable"]
        assert len(server.seen) == 1
    finally:
        server.stop()
