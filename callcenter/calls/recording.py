"""A recording's clock: when it was paused and resumed, and where each gap sits in the file.

A paused recording writes nothing (Asterisk's pause, not a mute): the file is shorter than
the conversation by the time paused, and each gap is marked at the offset in the file where
it falls (seconds of audio before it), with when it began and ended in wall time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PAUSE_KEYS = "*1"  # the agent's phone: pause the recording
RESUME_KEYS = "*2"  # and resume it


class RecordingStateError(ValueError):
    """Pause while paused, resume while recording, anything after the end."""


@dataclass
class Gap:
    offset: float  # seconds of audio in the file before the gap
    paused_at: datetime
    resumed_at: datetime | None = None
    by: str | None = None

    @property
    def seconds(self) -> float | None:
        if self.resumed_at is None:
            return None
        return (self.resumed_at - self.paused_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        return {
            "offset": round(self.offset, 3),
            "paused_at": self.paused_at.isoformat(),
            "resumed_at": self.resumed_at.isoformat() if self.resumed_at else None,
            "seconds": round(self.seconds, 3) if self.seconds is not None else None,
            "by": self.by,
        }


@dataclass
class RecordingClock:
    started_at: datetime
    gaps: list[Gap] = field(default_factory=list)
    ended_at: datetime | None = None

    @property
    def paused(self) -> bool:
        return bool(self.gaps) and self.gaps[-1].resumed_at is None

    def audio_seconds(self, at: datetime) -> float:
        """Seconds of audio in the file at ``at``."""
        end = min(at, self.ended_at) if self.ended_at else at
        total = (end - self.started_at).total_seconds()
        for gap in self.gaps:
            gap_end = gap.resumed_at or end
            total -= max(0.0, (min(gap_end, end) - gap.paused_at).total_seconds())
        return max(0.0, total)

    def pause(self, at: datetime, by: str | None = None) -> Gap:
        if self.ended_at is not None:
            raise RecordingStateError("the recording has ended")
        if self.paused:
            raise RecordingStateError("the recording is already paused")
        gap = Gap(self.audio_seconds(at), max(at, self.started_at), by=by)
        self.gaps.append(gap)
        return gap

    def resume(self, at: datetime) -> Gap:
        if self.ended_at is not None:
            raise RecordingStateError("the recording has ended")
        if not self.paused:
            raise RecordingStateError("the recording is not paused")
        gap = self.gaps[-1]
        gap.resumed_at = max(at, gap.paused_at)
        return gap

    def end(self, at: datetime) -> None:
        """The recording stops (a gap still open closes here)."""
        if self.ended_at is not None:
            return
        at = max(at, self.started_at)
        if self.paused:
            self.gaps[-1].resumed_at = max(at, self.gaps[-1].paused_at)
        self.ended_at = at

    @property
    def paused_seconds(self) -> float:
        return sum(gap.seconds or 0.0 for gap in self.gaps)

    def duration(self) -> float | None:
        """Seconds of audio in the finished file."""
        if self.ended_at is None:
            return None
        return self.audio_seconds(self.ended_at)


class FeatureKeys:
    """Keys an agent presses on their phone during a call: ``*1`` pauses the recording,
    ``*2`` resumes it. A ``*`` starts a sequence; the next key ends it."""

    def __init__(self) -> None:
        self._star = False

    def press(self, key: str) -> str | None:
        """Returns "pause" or "resume" when a sequence is complete, else None."""
        if key == "*":
            self._star = True
            return None
        if not self._star:
            return None
        self._star = False
        sequence = "*" + key
        if sequence == PAUSE_KEYS:
            return "pause"
        if sequence == RESUME_KEYS:
            return "resume"
        return None
