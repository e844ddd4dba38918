"""Which addresses are the trunk: calls from them are taken as inbound from the PSTN, so the
list must be IP addresses or networks and nothing else (it is rendered into pjsip.conf)."""

from __future__ import annotations

import ipaddress


def check_trunk_match(value: str) -> list[str]:
    """The trunk's addresses (``SWITCHBOARD_TRUNK_MATCH``): IPs or networks, comma-separated.
    Anything else raises ``ValueError``."""
    items = [item.strip() for item in value.split(",")]
    if not value.strip() or not all(items):
        raise ValueError("trunk_match: name the trunk's IP addresses or networks, e.g. 203.0.113.5")
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"trunk_match: {item!r} is not an IP address or network") from None
    return items
