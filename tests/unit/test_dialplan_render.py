from __future__ import annotations

import dataclasses

import pytest

from dialplan import AsteriskParams, render_all

PARAMS = AsteriskParams(
    instance="t",
    base="/srv/switchboard/t",
    node_id="n1",
    http_port=18088,
    ami_port=15038,
    sip_port=15060,
    rtp_start=30000,
    rtp_end=30199,
    ari_user="u",
    ari_password="secret-ari",
    ari_app="switchboard",
    ami_user="a",
    ami_secret="secret-ami",
    agi_port=14573,
)


def test_every_placeholder_is_filled_and_asterisk_syntax_survives() -> None:
    files = render_all(PARAMS)
    for name, text in files.items():
        assert "%%{" not in text, name
    assert "bindport = 18088" in files["http.conf"]
    assert "password = secret-ari" in files["ari.conf"]
    assert "secret = secret-ami" in files["manager.conf"]
    assert "bind = 127.0.0.1:15060" in files["pjsip.conf"]
    assert "rtpstart = 30000" in files["rtp.conf"]
    assert "Stasis(switchboard,inbound,${EXTEN})" in files["extensions.conf"]
    assert "agi://127.0.0.1:14573/health" in files["extensions.conf"]
    assert "astetcdir => /srv/switchboard/t/etc" in files["asterisk.conf"]


def test_services_listen_on_loopback_by_default() -> None:
    files = render_all(PARAMS)
    assert "bindaddr = 127.0.0.1" in files["http.conf"]
    assert "bindaddr = 127.0.0.1" in files["manager.conf"]


def test_trunk_calls_can_only_reach_the_application() -> None:
    text = render_all(PARAMS)["extensions.conf"]
    trunk = text.split("[from-trunk]", 1)[1].split("\n[", 1)[0]
    assert "Dial(" not in trunk and "Goto(" not in trunk
    assert "Stasis(" in trunk


def test_a_missing_value_is_an_error_not_a_half_rendered_file() -> None:
    from dialplan.render import ConfTemplate

    with pytest.raises(KeyError):
        ConfTemplate("port = %%{nope} ${EXTEN}").substitute({})


def test_the_trunk_is_matched_on_the_configured_addresses_only() -> None:
    from dataclasses import replace

    import pytest

    from callcenter.security.trunk import check_trunk_match

    text = render_all(replace(PARAMS, trunk_match="203.0.113.5, 198.51.100.0/28"))["pjsip.conf"]
    assert "match = 203.0.113.5, 198.51.100.0/28" in text
    assert check_trunk_match("10.0.0.1,10.0.1.0/24") == ["10.0.0.1", "10.0.1.0/24"]
    for bad in ("", "carrier.example", "10.0.0.1\n[evil]\ntype=endpoint", "10.0.0.1,,"):
        with pytest.raises(ValueError, match="trunk_match"):
            render_all(replace(PARAMS, trunk_match=bad))


def test_browser_phones_add_the_tls_server_and_the_wss_transport() -> None:
    off = render_all(PARAMS)
    assert "tlsenable" not in off["http.conf"] and "protocol = wss" not in off["pjsip.conf"]
    params = dataclasses.replace(
        PARAMS, https_port=18089, tls_cert="/srv/switchboard/t/keys/tls.crt", tls_key="/k.key"
    )
    on = render_all(params)
    assert "tlsenable = yes" in on["http.conf"]
    assert "tlsbindaddr = 127.0.0.1:18089" in on["http.conf"]  # loopback, as ARI
    assert "tlscertfile = /srv/switchboard/t/keys/tls.crt" in on["http.conf"]
    assert "tlsprivatekey = /k.key" in on["http.conf"]
    assert "[transport-wss]\ntype = transport\nprotocol = wss" in on["pjsip.conf"]
    with pytest.raises(ValueError, match="tls_cert and tls_key"):
        render_all(dataclasses.replace(PARAMS, https_port=18089))
