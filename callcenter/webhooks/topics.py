"""The events a webhook can subscribe to."""

from __future__ import annotations

TOPICS: tuple[str, ...] = ("call.ended", "call.coded", "callback.due", "agent.state")


class TopicError(ValueError):
    """A subscription asked for an event that does not exist."""


def parse_topics(text: str) -> tuple[str, ...]:
    """``call.ended,call.coded`` -> the topics, in the catalogue's order, each once."""
    wanted = {part.strip() for part in text.split(",") if part.strip()}
    if not wanted:
        raise TopicError(f"name at least one event: {', '.join(TOPICS)}")
    unknown = sorted(wanted - set(TOPICS))
    if unknown:
        raise TopicError(f"unknown event {', '.join(unknown)}: one of {', '.join(TOPICS)}")
    return tuple(topic for topic in TOPICS if topic in wanted)
