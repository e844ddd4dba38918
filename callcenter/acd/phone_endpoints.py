"""An agent's PJSIP endpoint in Asterisk, by the kind of phone they take calls on.

A softphone speaks SIP over UDP with plain RTP; the desk's browser phone speaks SIP over a
secure websocket with WebRTC media (ICE, DTLS-SRTP, RTCP multiplexed, AVPF). One endpoint
cannot offer both, so the agent's row says which one Asterisk makes (agents.phone)."""

from __future__ import annotations

PHONE_KINDS = ("softphone", "browser")


def endpoint_fields(agent: str, phone: str) -> dict[str, str]:
    """The endpoint's options, as Asterisk's dynamic configuration takes them."""
    if phone not in PHONE_KINDS:
        raise ValueError(f"phone {phone!r}: one of {', '.join(PHONE_KINDS)}")
    fields = {
        "auth": agent,
        "aors": agent,
        "context": "agents",
        "disallow": "all",
        "allow": "ulaw,alaw" if phone == "browser" else "alaw,ulaw",
        "dtmf_mode": "rfc4733",
        "direct_media": "no",
        "rtp_symmetric": "yes",
        "force_rport": "yes",
        "callerid": f"{agent} <{agent}>",
        # A REFER from the phone is refused: transfers go through the HTTP API.
        "allow_transfer": "no",
    }
    if phone == "softphone":
        # Media on the SIP transport's address, not every interface.
        fields["transport"] = "transport-udp"
        return fields
    fields.update(
        {
            "transport": "transport-wss",
            # use_avpf, media_encryption=dtls, dtls_verify=fingerprint, dtls_setup=actpass,
            # ice_support, media_use_received_transport, rtcp_mux: what browsers require.
            "webrtc": "yes",
            "dtls_auto_generate_cert": "yes",
            # The browser's contact is a made-up .invalid host: reach it over its websocket.
            "rewrite_contact": "yes",
        }
    )
    return fields
