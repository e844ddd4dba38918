"""How a supervisor is on an agent's call: listening, whispering to the agent, or barged in.

Listening and whispering go through a snoop channel on the agent's leg (Asterisk's
ChanSpy, through ARI): ``spy`` is the audio the supervisor hears (``both``: what the agent
says and what the agent hears, i.e. the caller), ``whisper`` where the supervisor's voice
goes (``out``: to the agent only; ``none``: nowhere). Barging puts the supervisor in the
conversation's own bridge, where all three hear each other."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Snoop:
    spy: str
    whisper: str


MODES: dict[str, Snoop | None] = {
    "listen": Snoop(spy="both", whisper="none"),
    "whisper": Snoop(spy="both", whisper="out"),
    "barge": None,  # in the conversation's bridge, no snoop
}


def snoop_for(mode: str) -> Snoop | None:
    """The snoop a mode needs (None: barge); raises ValueError for an unknown mode."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: one of {', '.join(MODES)}")
    return MODES[mode]
