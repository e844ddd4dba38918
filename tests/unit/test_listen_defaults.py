"""Loopback by default, no default credentials: the configuration rendered from default
settings (with what `switchboard init` writes, for the chroot set-up and for the Docker
image) listens on 127.0.0.1 only, AMI lets in loopback only, FastAGI and the HTTP API bind
127.0.0.1, every credential is generated anew each time and none is a known default, and
nothing is rendered with an empty or well-known password."""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from callcenter.config import Settings
from dialplan import render_all
from dialplan.__main__ import params_from_env
from pbx.local import params_from_settings
from switchboard import envfile

LOOPBACK = "127.0.0.1"
KNOWN_DEFAULTS = {"", "asterisk", "secret", "password", "changeme", "admin", "amp111", "1234"}
CREDENTIALS = ("SWITCHBOARD_ARI_PASSWORD", "SWITCHBOARD_AMI_SECRET", "SWITCHBOARD_API_TOKEN")

Section = tuple[str, list[tuple[str, str]]]


def sections(text: str) -> list[Section]:
    """An Asterisk .conf file as (section, [(key, value)...]) in order; a section name
    may come back (pjsip.conf's [trunk-in] endpoint and identify)."""
    found: list[Section] = []
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and "]" in line:
            found.append((line[1 : line.index("]")], []))
            continue
        for separator in ("=>", "="):
            if separator in line and found:
                key, value = line.split(separator, 1)
                found[-1][1].append((key.strip(), value.strip()))
                break
    return found


def values(text: str, section: str, key: str) -> list[str]:
    return [v for name, pairs in sections(text) if name == section for k, v in pairs if k == key]


def one(text: str, section: str, key: str) -> str:
    (value,) = values(text, section, key)
    return value


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No SWITCHBOARD_* variable and no .env: what a fresh machine has."""
    for name in list(os.environ):
        if name.startswith("SWITCHBOARD_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def initialised(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What `switchboard init` writes, in the environment."""
    env = envfile.generate()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def test_settings_default_to_loopback_and_to_no_credentials(clean_env: None) -> None:
    settings = Settings(_env_file=None)
    assert urlsplit(settings.ari_url).hostname == LOOPBACK
    assert settings.ami_host == LOOPBACK
    assert settings.agi_host == LOOPBACK  # FastAGI binds it
    assert settings.api_host == LOOPBACK  # the HTTP API binds it
    assert settings.sip_host_for_phones == LOOPBACK
    assert settings.outbound_uri == ""  # no outbound trunk until one is configured
    # No credential has a default: nothing works until `switchboard init` generates them.
    assert (settings.ari_password, settings.ami_secret, settings.api_token) == ("", "", "")
    # ...and Asterisk's configuration is never rendered with an empty one.
    with pytest.raises(ValueError, match="ari_password"):
        render_all(params_from_settings(settings))


@pytest.mark.parametrize("weak", sorted(KNOWN_DEFAULTS))
def test_nothing_is_rendered_with_a_well_known_password(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, weak: str
) -> None:
    initialised(monkeypatch)
    monkeypatch.setenv("SWITCHBOARD_AMI_SECRET", weak.upper() if weak else weak)
    with pytest.raises(ValueError, match="ami_secret"):
        render_all(params_from_settings(Settings(_env_file=None)))


def _rendered_both_ways(
    monkeypatch: pytest.MonkeyPatch,
) -> list[tuple[dict[str, str], dict[str, str]]]:
    env = initialised(monkeypatch)
    chroot = render_all(params_from_settings(Settings(_env_file=None)))
    docker = render_all(params_from_env("/srv/switchboard/docker", env))
    return [(env, chroot), (env, docker)]


def test_asterisk_listens_on_loopback_only(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for env, files in _rendered_both_ways(monkeypatch):
        # ARI and the rest of Asterisk's HTTP server
        http = files["http.conf"]
        assert one(http, "general", "bindaddr") == LOOPBACK
        ari = files["ari.conf"]
        assert urlsplit(one(ari, "general", "allowed_origins")).hostname == LOOPBACK
        # AMI: bound to loopback, and its user is let in from loopback only
        manager = files["manager.conf"]
        assert one(manager, "general", "bindaddr") == LOOPBACK
        user = env["SWITCHBOARD_AMI_USER"]
        assert values(manager, user, "deny") == ["0.0.0.0/0.0.0.0"]
        permits = values(manager, user, "permit")
        assert permits
        for permit in permits:
            assert ipaddress.ip_network(permit.replace("/255.0.0.0", "/8")).is_loopback
        # SIP: the transport, and the inbound trunk is this machine only
        pjsip = files["pjsip.conf"]
        assert one(pjsip, "transport-udp", "bind") == f"{LOOPBACK}:{env['SWITCHBOARD_SIP_PORT']}"
        assert one(pjsip, "trunk-in", "match") == LOOPBACK
        assert one(pjsip, "trunk-in", "identify_by") == "ip"
        # media (RTP) on the transport's address rather than every interface
        assert one(pjsip, "trunk-in", "transport") == "transport-udp"
        assert one(pjsip, "trunk-in", "allow_transfer") == "no"


def test_credentials_are_generated_and_none_is_a_known_default(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for env, files in _rendered_both_ways(monkeypatch):
        for key in CREDENTIALS:
            assert env[key].lower() not in KNOWN_DEFAULTS
            assert len(env[key]) >= 22, key  # at least 128 bits, URL-safe base64
        ari_user = env["SWITCHBOARD_ARI_USER"]
        assert one(files["ari.conf"], ari_user, "password") == env["SWITCHBOARD_ARI_PASSWORD"]
        ami_user = env["SWITCHBOARD_AMI_USER"]
        assert one(files["manager.conf"], ami_user, "secret") == env["SWITCHBOARD_AMI_SECRET"]
        for text in files.values():
            for _name, pairs in sections(text):
                for key, value in pairs:
                    if key in ("password", "secret"):
                        assert value.lower() not in KNOWN_DEFAULTS, (key, value)
        # Failed authentication is logged for fail2ban (docs/security.md).
        assert one(files["logger.conf"], "logfiles", "security.log") == "security"


def test_init_generates_distinct_credentials_each_time(clean_env: None, tmp_path: Path) -> None:
    runs = [envfile.generate() for _ in range(5)]
    for key in CREDENTIALS:
        assert len({run[key] for run in runs}) == len(runs), key
    first = runs[0]
    assert len({first[key] for key in CREDENTIALS}) == len(CREDENTIALS)
    # FastAGI and the API are left on their loopback defaults.
    assert "SWITCHBOARD_AGI_HOST" not in first and "SWITCHBOARD_API_HOST" not in first
    assert urlsplit(first["SWITCHBOARD_ARI_URL"]).hostname == LOOPBACK

    one_env, other_env = tmp_path / "a.env", tmp_path / "b.env"
    assert envfile.ensure(one_env) and envfile.ensure(other_env)
    assert stat.S_IMODE(one_env.stat().st_mode) == 0o600
    written = one_env.read_text()
    assert not envfile.ensure(one_env)  # never overwritten
    assert one_env.read_text() == written
    secrets_of = [
        {
            line.split("=", 1)[0]: line.split("=", 1)[1]
            for line in p.read_text().splitlines()
            if "=" in line and not line.startswith("#")
        }
        for p in (one_env, other_env)
    ]
    for key in CREDENTIALS:
        assert secrets_of[0][key] != secrets_of[1][key]
