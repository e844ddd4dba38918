"""Render the Asterisk configuration templates with an instance's ports and credentials."""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from callcenter.security.trunk import check_trunk_match


class ConfTemplate(string.Template):
    """``%%{name}`` placeholders; Asterisk's ``${...}`` and ``@`` pass through untouched."""

    delimiter = "%%"
    braceidpattern = r"[a-z_][a-z0-9_]*"
    idpattern = r"(?!)"  # only the braced form is a placeholder


@dataclass(frozen=True)
class AsteriskParams:
    """Everything that differs between two Asterisk instances on one machine."""

    instance: str
    base: str  # the instance's folder, as seen inside the Asterisk root
    node_id: str
    http_port: int
    ami_port: int
    sip_port: int
    rtp_start: int
    rtp_end: int
    ari_user: str
    ari_password: str
    ari_app: str
    ami_user: str
    ami_secret: str
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    bind_address: str = "127.0.0.1"
    trunk_match: str = "127.0.0.1"
    # Browser phones: Asterisk's HTTP server with TLS on this port carries SIP over secure
    # websockets (wss://host:port/ws). 0: no TLS server, no browser phones.
    https_port: int = 0
    tls_cert: str = ""  # PEM paths as Asterisk sees them (required with https_port)
    tls_key: str = ""


# Asterisk's own sample files that we use unchanged (tones, AMD defaults, feature codes...),
# copied from the Asterisk package's /etc/asterisk next to our rendered files.
STOCK_FILES = (
    "indications.conf",
    "amd.conf",
    "ccss.conf",
    "features.conf",
    "acl.conf",
    "pjproject.conf",
    "say.conf",
    "codecs.conf",
    "dsp.conf",
    "stasis.conf",
    "udptl.conf",
    "res_parking.conf",
    "confbridge.conf",
    "cli_aliases.conf",
    "res_http_media_cache.conf",
)


def copy_stock(stock_dir: Path, etc: Path) -> None:
    """Copy the stock files that exist in ``stock_dir`` into ``etc`` (ours win on names)."""
    for name in STOCK_FILES:
        source = stock_dir / name
        target = etc / name
        if source.is_file() and not target.exists():
            target.write_bytes(source.read_bytes())


def template_names() -> list[str]:
    folder = resources.files("dialplan") / "templates"
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".conf"))


# Credentials scanners try first: ARI and AMI are never rendered with one of these.
KNOWN_DEFAULT_SECRETS = frozenset(
    {"", "asterisk", "secret", "password", "changeme", "admin", "amp111", "switchboard", "1234"}
)


def render_all(params: AsteriskParams) -> dict[str, str]:
    """Return every configuration file's name and rendered text.

    A placeholder without a value raises ``KeyError`` naming it: a half-rendered
    configuration never reaches Asterisk. An empty or well-known ARI password or AMI secret
    raises ``ValueError`` (``switchboard init`` generates random ones).
    """
    for name in ("ari_password", "ami_secret"):
        if str(getattr(params, name)).strip().lower() in KNOWN_DEFAULT_SECRETS:
            raise ValueError(f"{name} is empty or a well-known default: run 'switchboard init'")
    check_trunk_match(params.trunk_match)
    values = {k: str(v) for k, v in asdict(params).items()}
    values.update(_browser_phone_blocks(params))
    folder = resources.files("dialplan") / "templates"
    rendered: dict[str, str] = {}
    for name in template_names():
        text = (folder / name).read_text(encoding="utf-8")
        rendered[name] = ConfTemplate(text).substitute(values)
    return rendered


def _browser_phone_blocks(params: AsteriskParams) -> dict[str, str]:
    """The TLS lines of http.conf and the secure websocket transport of pjsip.conf, present
    only when browser phones are on (a websocket transport needs the TLS HTTP server)."""
    if not params.https_port:
        off = "; browser phones are off (no https_port): no TLS server, no wss transport"
        return {"http_tls": off, "wss_transport": off}
    if not params.tls_cert or not params.tls_key:
        raise ValueError("https_port needs tls_cert and tls_key (switchboard init makes a pair)")
    http_tls = "\n".join(
        (
            "; SIP over secure websockets for browser phones: wss://host:port/ws",
            "tlsenable = yes",
            f"tlsbindaddr = {params.bind_address}:{params.https_port}",
            f"tlscertfile = {params.tls_cert}",
            f"tlsprivatekey = {params.tls_key}",
        )
    )
    wss = "\n".join(
        (
            "; Browser phones (the agent desk): SIP over the TLS HTTP server's websocket.",
            "[transport-wss]",
            "type = transport",
            "protocol = wss",
            f"bind = {params.bind_address}",
        )
    )
    return {"http_tls": http_tls, "wss_transport": wss}
