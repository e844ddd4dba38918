"""The pieces of the browser phone that need no Asterisk: the agent's endpoint by kind of
phone, the desk's Content-Security-Policy, the self-signed certificate, the wss address."""

from __future__ import annotations

import hashlib
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509

from ari_app.api import page_policy
from callcenter.acd.phone_endpoints import endpoint_fields
from callcenter.acd.supervision import Snoop, snoop_for
from callcenter.config import Settings
from pbx.tls import ensure_self_signed


def test_a_softphone_gets_plain_sip_over_udp() -> None:
    fields = endpoint_fields("amy", "softphone")
    assert fields["transport"] == "transport-udp"
    assert "webrtc" not in fields and "ice_support" not in fields
    assert fields["auth"] == fields["aors"] == "amy" and fields["context"] == "agents"
    assert fields["allow_transfer"] == "no" and fields["dtmf_mode"] == "rfc4733"


def test_a_browser_phone_gets_webrtc_over_wss() -> None:
    fields = endpoint_fields("amy", "browser")
    assert fields["transport"] == "transport-wss"
    assert fields["webrtc"] == "yes" and fields["dtls_auto_generate_cert"] == "yes"
    assert fields["rewrite_contact"] == "yes"
    assert fields["allow"].split(",")[0] == "ulaw"  # G.711, which every browser has
    assert fields["allow_transfer"] == "no" and fields["context"] == "agents"


def test_an_unknown_phone_is_refused() -> None:
    with pytest.raises(ValueError, match="softphone, browser"):
        endpoint_fields("amy", "deskphone")


def test_the_desk_policy_allows_no_inline_code_and_only_its_own_socket() -> None:
    policy = page_policy("wss://pbx.example.com:8089/ws")
    rules = dict(rule.split(" ", 1) for rule in policy.split("; "))
    assert rules["script-src"] == "'self'" and rules["style-src"] == "'self'"
    assert "unsafe" not in policy and "http:" not in policy
    assert rules["connect-src"] == "'self' wss://pbx.example.com:8089"
    assert rules["frame-ancestors"] == "'none'"
    assert dict(r.split(" ", 1) for r in page_policy("").split("; "))["connect-src"] == "'self'"


def test_the_certificate_is_made_once_for_the_hosts(tmp_path: Path) -> None:
    cert, key = tmp_path / "keys" / "tls.crt", tmp_path / "keys" / "tls.key"
    assert ensure_self_signed(cert, key, ["127.0.0.1", "localhost"]) is True
    made = x509.load_pem_x509_certificate(cert.read_bytes())
    names = made.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert key.stat().st_mode & 0o077 == 0  # the key is the owner's only
    before = cert.read_bytes()
    assert ensure_self_signed(cert, key, ["127.0.0.1"]) is False  # an existing pair is kept
    assert cert.read_bytes() == before
    key.unlink()  # an operator's certificate whose key lies elsewhere: still never replaced
    assert ensure_self_signed(cert, key, ["127.0.0.1"]) is False and cert.read_bytes() == before


def test_the_wss_address_follows_the_settings() -> None:
    assert Settings(phone_wss_port=0).phone_wss_url == ""
    on = Settings(phone_wss_port=8089, sip_host_for_phones="pbx.example.com")
    assert on.phone_wss_url == "wss://pbx.example.com:8089/ws"


def test_the_vendored_sip_library_matches_its_recorded_checksum() -> None:
    """scripts/vendor-js rebuilds it from the npm registry; the committed file is that build."""
    vendor = Path(__file__).resolve().parents[2] / "ari_app" / "static" / "vendor"
    recorded = (vendor / "jssip.min.js.sha256").read_text().split()[0]
    assert hashlib.sha256((vendor / "jssip.min.js").read_bytes()).hexdigest() == recorded


def test_supervision_modes_and_their_snoops() -> None:
    assert snoop_for("listen") == Snoop(spy="both", whisper="none")  # hears both, says nothing
    assert snoop_for("whisper") == Snoop(spy="both", whisper="out")  # the agent hears them
    assert snoop_for("barge") is None  # in the conversation itself
    with pytest.raises(ValueError, match="listen, whisper, barge"):
        snoop_for("monitor")
