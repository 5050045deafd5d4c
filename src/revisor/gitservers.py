"""What a Git server registration may say: its URL and its CA bundle.

`canonical_server_url()` is the one check every Git server URL passes, from `revisor server
add`, `revisor repo add` and the dashboard alike. It accepts only `http(s)://host[:port][/path]`
and returns it in one canonical spelling (lower-case scheme and host, no default port, no
trailing slash), so the same server is never registered twice under two names and the name
that is allowed is the name that is contacted. Anything a URL parser might read differently
from the HTTP client that later connects is refused rather than repaired: user-info, query
strings, fragments, backslashes, percent-encoding, dot segments, whitespace and control
characters, IPv6 zone ids, trailing dots, and IPv4 addresses in any spelling other than four
decimal numbers (`0x7f.1`, `2130706433`, `127.1`, `0177.0.0.1`).

`confined_ca_file()` keeps a CA bundle named from the dashboard inside `<data_dir>/ca/`, after
resolving symbolic links, so a dashboard user cannot make Revisor read an arbitrary file.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from revisor.errors import ConfigError

MAX_URL_LENGTH = 2048
CA_DIR_NAME = "ca"

_SCHEMES = {"http": 80, "https": 443}
_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):(?P<rest>.*)\Z", re.DOTALL)
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+\Z")
_PORT = re.compile(r"[1-9][0-9]{0,4}\Z")
_NUMERIC_LABEL = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)\Z")


class BadServerURL(ConfigError):
    """A Git server URL that Revisor will not contact; the message says why."""


class BadCAFile(ConfigError):
    """A CA bundle path outside the place it may be read from."""


def _refuse(url: str, why: str) -> BadServerURL:
    shown = ascii(url if len(url) <= 120 else url[:120] + "...")
    return BadServerURL(f"server URL {shown} refused: {why}")


def canonical_server_url(url: str) -> str:
    """`scheme://host[:port][/path-prefix]`, or `BadServerURL` saying what is wrong."""
    url = url.strip(" ")
    if not url:
        raise BadServerURL("a server URL is required (https://host[:port][/path])")
    if len(url) > MAX_URL_LENGTH:
        raise _refuse(url, f"longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise _refuse(url, "it contains whitespace or control characters")
    if not url.isascii():
        raise _refuse(url, "it contains non-ASCII characters (write an IDN host in punycode)")
    if "\\" in url:
        raise _refuse(url, "it contains a backslash")
    m = _SCHEME.match(url)
    scheme = m["scheme"].lower() if m else ""
    if scheme not in _SCHEMES:
        raise _refuse(url, "only http:// and https:// Git servers can be registered")
    rest = m["rest"] if m else ""
    if not rest.startswith("//"):
        raise _refuse(url, "expected scheme://host")
    if "?" in rest:
        raise _refuse(url, "a query string is not allowed")
    if "#" in rest:
        raise _refuse(url, "a fragment is not allowed")
    authority, slash, path = rest[2:].partition("/")
    if "@" in authority:
        raise _refuse(url, "user-info (user:password@) is not allowed; the token is stored apart")
    host, port = _split_authority(url, authority)
    if "%" in path:
        raise _refuse(url, "percent-encoded characters (such as %2f) are not allowed in the path")
    port_part = "" if port in (None, _SCHEMES[scheme]) else f":{port}"
    return f"{scheme}://{host}{port_part}{_path_prefix(url, path if slash else '')}"


def _split_authority(url: str, authority: str) -> tuple[str, int | None]:
    if authority.startswith("["):
        inside, bracket, after = authority[1:].partition("]")
        if not bracket:
            raise _refuse(url, "unterminated IPv6 address")
        host = _ipv6(url, inside)
        port_text = after
    else:
        name, colon, port_text = authority.partition(":")
        port_text = colon + port_text
        host = _hostname(url, name)
    if not port_text:
        return host, None
    if not port_text.startswith(":") or not _PORT.match(port_text[1:]):
        raise _refuse(url, "the port must be a number from 1 to 65535 without leading zeros")
    port = int(port_text[1:])
    if port > 65535:
        raise _refuse(url, "the port must be a number from 1 to 65535")
    return host, port


def _ipv6(url: str, text: str) -> str:
    if "%" in text:
        raise _refuse(url, "IPv6 zone ids are not allowed")
    try:
        addr = ipaddress.IPv6Address(text)
    except ValueError:
        raise _refuse(url, "not a valid IPv6 address") from None
    if addr.ipv4_mapped is not None or addr.sixtofour is not None or addr.teredo is not None:
        raise _refuse(url, "IPv4 addresses embedded in IPv6 are not allowed; write the IPv4")
    _check_address(url, addr)
    return f"[{addr.compressed}]"


def _hostname(url: str, name: str) -> str:
    if not name:
        raise _refuse(url, "the host is missing")
    if "%" in name:
        raise _refuse(url, "percent-encoded characters are not allowed in the host")
    if name.endswith("."):
        raise _refuse(url, "a trailing dot in the host name is not allowed")
    labels = name.lower().split(".")
    if _NUMERIC_LABEL.match(labels[-1]):  # a URL parser reads this as an IPv4 address
        parts = name.split(".")
        canonical = len(parts) == 4 and all(
            p.isdigit() and (p == "0" or not p.startswith("0")) and int(p) <= 255 for p in parts
        )
        if not canonical:
            raise _refuse(url, "IPv4 addresses must be written as four decimal numbers (a.b.c.d)")
        addr = ipaddress.IPv4Address(name)
        _check_address(url, addr)
        return str(addr)
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise _refuse(url, "not a valid host name (letters, digits, '-' and '.')")
    return ".".join(labels)


def _check_address(url: str, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    """Loopback and private addresses are fine (on-premises Git servers live there); addresses
    that are never a Git server are not: unspecified, multicast, link-local (cloud metadata
    services live at 169.254.169.254), broadcast and reserved ones."""
    if addr.is_loopback:
        return
    if addr.is_unspecified or addr.is_multicast or addr.is_link_local or addr.is_reserved:
        raise _refuse(url, f"{addr} is not an address a Git server can have")


def _path_prefix(url: str, path: str) -> str:
    path = path.rstrip("/")
    if not path:
        return ""
    segments = path.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise _refuse(url, "empty, '.' or '..' path segments are not allowed")
        if not _SEGMENT.match(segment):
            raise _refuse(url, "the path may hold only letters, digits and '-._~'")
    return "/" + "/".join(segments)


def confined_ca_file(value: str, data_dir: Path) -> str:
    """The resolved path of a CA bundle that lies in `<data_dir>/ca/` (after following links).

    A bare file name is looked up in that directory. Raises `BadCAFile` for anything outside
    it, and for a file that does not exist.
    """
    ca_dir = (data_dir / CA_DIR_NAME).resolve()
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value) or not value.strip():
        raise BadCAFile("CA file: a file name without control characters is required")
    candidate = Path(value.strip())
    if not candidate.is_absolute():
        candidate = ca_dir / candidate
    resolved = candidate.resolve()
    if not resolved.is_relative_to(ca_dir) or resolved == ca_dir:
        raise BadCAFile(
            f"CA file {value!a} refused: from the dashboard, CA bundles must lie in "
            f"{ca_dir} (put the file there, then name it)"
        )
    if not resolved.is_file():
        raise BadCAFile(f"CA file {value!a} does not exist in {ca_dir}")
    return str(resolved)
