"""Render the configuration from environment variables into a folder (container entrypoint).

    python3 -m dialplan --base /srv/switchboard/docker

Reads the same ``SWITCHBOARD_*`` variables as the application (see ``.env``); uses only the
standard library, so the Asterisk image needs nothing but Python itself.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from dialplan.render import AsteriskParams, copy_stock, render_all


def params_from_env(base: str, env: dict[str, str]) -> AsteriskParams:
    def need(name: str) -> str:
        value = env.get(name, "")
        if not value:
            raise SystemExit(f"error: {name} is not set (run 'switchboard init' for a .env)")
        return value

    ari = urlsplit(env.get("SWITCHBOARD_ARI_URL", "http://127.0.0.1:8088"))
    return AsteriskParams(
        instance=Path(base).name,
        base=base,
        node_id=env.get("SWITCHBOARD_NODE_ID", "node1"),
        http_port=ari.port or 8088,
        ami_port=int(env.get("SWITCHBOARD_AMI_PORT", "5038")),
        sip_port=int(env.get("SWITCHBOARD_SIP_PORT", "5060")),
        rtp_start=int(env.get("SWITCHBOARD_RTP_START", "20000")),
        rtp_end=int(env.get("SWITCHBOARD_RTP_END", "20999")),
        ari_user=env.get("SWITCHBOARD_ARI_USER", "switchboard"),
        ari_password=need("SWITCHBOARD_ARI_PASSWORD"),
        ari_app=env.get("SWITCHBOARD_ARI_APP", "switchboard"),
        ami_user=env.get("SWITCHBOARD_AMI_USER", "switchboard"),
        ami_secret=need("SWITCHBOARD_AMI_SECRET"),
        agi_host=env.get("SWITCHBOARD_AGI_HOST", "127.0.0.1"),
        agi_port=int(env.get("SWITCHBOARD_AGI_PORT", "4573")),
        bind_address=ari.hostname or "127.0.0.1",
        trunk_match=env.get("SWITCHBOARD_TRUNK_MATCH", "127.0.0.1"),
        https_port=int(env.get("SWITCHBOARD_PHONE_WSS_PORT", "0")),
        tls_cert=env.get("SWITCHBOARD_TLS_CERT") or f"{base}/keys/tls.crt",
        tls_key=env.get("SWITCHBOARD_TLS_KEY") or f"{base}/keys/tls.key",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dialplan", description=__doc__)
    parser.add_argument("--base", default="/srv/switchboard/docker")
    args = parser.parse_args(argv)
    params = params_from_env(args.base, dict(os.environ))
    etc = Path(args.base) / "etc"
    for sub in ("etc", "run", "log/cdr-custom", "spool", "lib", "cache", "keys"):
        (Path(args.base) / sub).mkdir(parents=True, exist_ok=True)
    for name, text in render_all(params).items():
        (etc / name).write_text(text, encoding="utf-8")
    copy_stock(Path("/etc/asterisk"), etc)
    print(f"rendered {len(list(etc.iterdir()))} files into {etc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
