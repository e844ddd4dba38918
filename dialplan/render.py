"""Render the Asterisk configuration templates with an instance's ports and credentials."""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass
from importlib import resources


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


def template_names() -> list[str]:
    folder = resources.files("dialplan") / "templates"
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".conf"))


def render_all(params: AsteriskParams) -> dict[str, str]:
    """Return every configuration file's name and rendered text.

    A placeholder without a value raises ``KeyError`` naming it: a half-rendered
    configuration never reaches Asterisk.
    """
    values = {k: str(v) for k, v in asdict(params).items()}
    folder = resources.files("dialplan") / "templates"
    rendered: dict[str, str] = {}
    for name in template_names():
        text = (folder / name).read_text(encoding="utf-8")
        rendered[name] = ConfTemplate(text).substitute(values)
    return rendered
