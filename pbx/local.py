"""The local Asterisk that `switchboard asterisk up` runs, described by the settings."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from callcenter.config import Settings
from dialplan import AsteriskParams
from pbx import rootfs
from pbx.instance import AsteriskInstance


def params_from_settings(settings: Settings) -> AsteriskParams:
    http = urlsplit(settings.ari_url)
    base = AsteriskInstance.base_for(settings.asterisk_instance)
    return AsteriskParams(
        instance=settings.asterisk_instance,
        base=base,
        node_id=settings.node_id,
        http_port=http.port or 8088,
        ami_port=settings.ami_port,
        sip_port=settings.sip_port,
        rtp_start=settings.rtp_start,
        rtp_end=settings.rtp_end,
        ari_user=settings.ari_user,
        ari_password=settings.ari_password,
        ari_app=settings.ari_app,
        ami_user=settings.ami_user,
        ami_secret=settings.ami_secret,
        agi_host=settings.agi_host,
        agi_port=settings.agi_port,
        bind_address=http.hostname or "127.0.0.1",
        trunk_match=settings.trunk_match,
        https_port=settings.phone_wss_port,
        tls_cert=settings.tls_cert or f"{base}/keys/tls.crt",
        tls_key=settings.tls_key or f"{base}/keys/tls.key",
    )


def rootfs_dir(settings: Settings) -> Path:
    """The configured Asterisk root, or the default one."""
    return (
        Path(settings.asterisk_rootfs) if settings.asterisk_rootfs else rootfs.default_rootfs_dir()
    )


def local_instance(settings: Settings) -> AsteriskInstance:
    return AsteriskInstance(rootfs_dir(settings), params_from_settings(settings))
