"""Settings from the environment and ``.env``, validated at start with clear messages."""

from __future__ import annotations

import os
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from callcenter.security.trunk import check_trunk_match

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/switchboard"


class Settings(BaseSettings):
    """Everything Switchboard needs to know about its surroundings.

    Each field is read from ``SWITCHBOARD_<NAME>`` (``DATABASE_URL`` too), then ``.env``.
    """

    model_config = SettingsConfigDict(
        env_prefix="SWITCHBOARD_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("DATABASE_URL", "SWITCHBOARD_DATABASE_URL"),
    )
    node_id: str = "node1"

    ari_url: str = "http://127.0.0.1:8088"
    ari_user: str = "switchboard"
    ari_password: str = ""
    ari_app: str = "switchboard"
    ari_heartbeat_seconds: float = 5.0

    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "switchboard"
    ami_secret: str = ""

    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    agi_header_timeout_seconds: float = 5.0
    agi_command_timeout_seconds: float = 10.0

    sip_port: int = 5060
    # The inbound trunk's signalling addresses (comma-separated IPs or networks): only SIP
    # from these is taken for the trunk; anything else must authenticate as an agent.
    trunk_match: str = "127.0.0.1"
    # Where calls to customers go (callbacks, campaigns): a SIP URI of a trunk or SBC,
    # e.g. sip:203.0.113.5:5060. Empty: no outbound calls.
    outbound_uri: str = ""
    # Where agents' softphones reach Asterisk (shown by `agents add`).
    sip_host_for_phones: str = "127.0.0.1"
    rtp_start: int = 20000
    rtp_end: int = 20999
    # Browser phones (the agent desk): Asterisk's TLS HTTP port carrying SIP over secure
    # websockets, wss://SIP_HOST_FOR_PHONES:PORT/ws. 0: off (softphones only).
    phone_wss_port: int = Field(0, ge=0, le=65535)
    # Its certificate and key, as paths Asterisk reads; empty: a self-signed pair made once
    # in the instance's keys folder (docs/agent-desk.md says how to use a real one).
    tls_cert: str = ""
    tls_key: str = ""
    asterisk_instance: str = "default"
    asterisk_rootfs: Path | None = None

    # IVR call flows: a directory of YAML files (docs/ivr.md), polled for changes. Without
    # it, calls get the built-in walking-skeleton flow.
    flows_dir: Path | None = None
    flows_poll_seconds: float = Field(2.0, gt=0)
    # For rehearsals and tests: judge business hours and do-not-call expiry as if the app
    # had started at this time (it moves on from there). Timestamps in records are real.
    business_clock_start: datetime | None = None
    # Where call records wait on local disk until PostgreSQL has them (docs/records.md).
    # Default: $XDG_STATE_HOME (~/.local/state)/switchboard/NODE/spool. One process each.
    spool_dir: Path | None = None
    # The country whose numbering plan numbers without a + are read in (ISO 3166 code).
    default_region: str = "US"
    # The center's own time zone (IANA name): where its days and intervals start in reports,
    # the wallboard's "today" and the staffing plan (a report's --tz overrides it).
    timezone: str = "UTC"

    # The HTTP API for agent desktops, supervisors and the CLI (docs/api.md). The token is
    # the operator's (the CLI's); `run` refuses to start without one.
    api_host: str = "127.0.0.1"
    api_port: int = 8095
    api_token: str = ""
    # The ACD: how often queue timers (announcements, max wait, wrap-up) are checked.
    acd_tick_seconds: float = Field(0.5, gt=0)
    # UK campaigns (Ofcom): the share of AMD's machine verdicts estimated to be people, counted
    # as drops and live answers in the abandonment rate; measure yours (docs/outbound.md).
    uk_amd_false_positive_rate: float = Field(0.05, ge=0, le=1)

    shutdown_grace_seconds: float = 10.0

    # Webhooks (docs/webhooks.md): how long a receiver may take to answer, how many
    # deliveries are in flight at once, the first retry's delay (doubling up to the cap) and
    # how often the outbox is looked at when nothing woke the sender.
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    webhook_concurrency: int = Field(8, ge=1, le=100)
    webhook_retry_seconds: float = Field(1.0, gt=0)
    webhook_retry_cap_seconds: float = Field(600.0, gt=0)
    webhook_poll_seconds: float = Field(5.0, gt=0)

    # Recordings (docs/recordings.md): deleted by this node's app this many days after they
    # were made (0: kept until purged); how often the keeper looks when nothing woke it.
    recording_retention_days: float = Field(0.0, ge=0)
    recording_keeper_poll_seconds: float = Field(60.0, gt=0)
    log_format: str = "console"
    log_level: str = "info"

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        if not value.startswith("postgresql+psycopg://"):
            raise ValueError(
                "DATABASE_URL must be a PostgreSQL URL such as postgresql://user@host:5432/dbname"
            )
        return value

    @field_validator("trunk_match")
    @classmethod
    def _trunk_addresses(cls, value: str) -> str:
        return ", ".join(check_trunk_match(value))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as America/New_York"
            ) from None
        return value

    @field_validator("business_clock_start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("business_clock_start needs a time zone, e.g. 2026-11-22T23:00:00Z")
        return value

    @field_validator("api_token")
    @classmethod
    def _api_token(cls, value: str) -> str:
        # Sent as "Authorization: Bearer <token>" (RFC 6750): visible ASCII, no spaces.
        value = value.strip()
        if any(not 33 <= ord(c) <= 126 for c in value):
            raise ValueError(
                "api_token: visible ASCII characters only, no spaces (e.g. from 'switchboard init')"
            )
        return value

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value not in {"console", "json"}:
            raise ValueError("log_format must be 'console' or 'json'")
        return value

    @property
    def spool_path(self) -> Path:
        if self.spool_dir is not None:
            return self.spool_dir
        state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(state) / "switchboard" / self.node_id / "spool"

    @property
    def phone_wss_url(self) -> str:
        """Where the desk's browser phone connects ("" when browser phones are off)."""
        if not self.phone_wss_port:
            return ""
        return f"wss://{self.sip_host_for_phones}:{self.phone_wss_port}/ws"

    @property
    def ari_ws_url(self) -> str:
        base = self.ari_url.rstrip("/")
        if base.startswith("https://"):
            return "wss://" + base.removeprefix("https://")
        return "ws://" + base.removeprefix("http://")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
