"""Prompts: what a flow file says to play, turned into Asterisk media URIs.

A prompt is ``kind:value`` with kind one of sound, digits, number, characters, date, tone,
recording; a bare name is a sound. Values may hold ``${variable}``. Numbers, digits and
characters use Asterisk's say functions (ARI ``number:``, ``digits:``, ``characters:``); a date
is said the way Asterisk's SayUnixTime says "ABdY" in English: weekday, month, ordinal day,
year.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}")
KINDS = ("sound", "digits", "number", "characters", "date", "tone", "recording")
SAY_KINDS = ("digits", "number", "characters", "date")
_ALLOWED = {
    "digits": re.compile(r"[0-9*#]+"),
    "number": re.compile(r"-?[0-9]{1,15}"),
    "characters": re.compile(r"[A-Za-z0-9]+"),
}
_SOUND = re.compile(r"[A-Za-z0-9_\-/.]+")


@dataclass(frozen=True)
class Prompt:
    kind: str
    value: str

    @property
    def variables(self) -> list[str]:
        return VARIABLE.findall(self.value)


class PromptError(ValueError):
    pass


def parse_prompt(text: str) -> Prompt:
    kind, sep, value = text.partition(":")
    if not sep:
        kind, value = "sound", text
    kind = kind.strip()
    value = value.strip()
    if kind not in KINDS:
        raise PromptError(f"unknown prompt kind {kind!r} in {text!r} (one of {', '.join(KINDS)})")
    if not value:
        raise PromptError(f"prompt {text!r} has nothing to play")
    if (
        kind in ("sound", "recording")
        and not VARIABLE.search(value)
        and not _SOUND.fullmatch(value)
    ):
        raise PromptError(f"{text!r} is not a sound name (letters, digits, - _ / .)")
    return Prompt(kind, value)


def substitute(template: str, variables: Mapping[str, str]) -> str:
    """Replace ``${name}``; an unknown variable becomes the empty string."""
    return VARIABLE.sub(lambda m: variables.get(m.group(1), ""), template)


def _ordinal_day(day: int) -> list[str]:
    if day <= 20 or day % 10 == 0:
        return [f"sound:digits/h-{day}"]
    return [f"sound:digits/{day - day % 10}", f"sound:digits/h-{day % 10}"]


def say_date(value: str) -> list[str]:
    """Media for a date given as ISO 8601 (date or date-time) or a Unix time."""
    text = value.strip()
    try:
        if re.fullmatch(r"\d{9,11}", text):
            day = datetime.fromtimestamp(int(text), UTC).date()
        else:
            day = date.fromisoformat(text[:10])
    except (ValueError, OverflowError) as exc:
        raise PromptError(f"{value!r} is not a date") from exc
    weekday = (day.weekday() + 1) % 7  # Asterisk's day-0 is Sunday
    return [
        f"sound:digits/day-{weekday}",
        f"sound:digits/mon-{day.month - 1}",
        *_ordinal_day(day.day),
        f"number:{day.year}",
    ]


def render(prompts: Iterable[str], variables: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """ARI media URIs for ``prompts``, and a note for each prompt that had to be skipped
    (a variable with nothing sayable in it): the caller hears the rest, never an error."""
    media: list[str] = []
    skipped: list[str] = []
    for text in prompts:
        prompt = parse_prompt(text)
        value = substitute(prompt.value, variables).strip()
        if prompt.kind == "date":
            try:
                media.extend(say_date(value))
            except PromptError as exc:
                skipped.append(f"{text}: {exc}")
            continue
        allowed = _ALLOWED.get(prompt.kind)
        if prompt.kind == "number":
            value = value.replace(",", "").replace("_", "")
            if re.fullmatch(r"-?\d+\.0+", value):
                value = value.split(".")[0]
        if allowed is not None and not allowed.fullmatch(value):
            skipped.append(f"{text}: {value!r} cannot be said as {prompt.kind}")
            continue
        if prompt.kind in ("sound", "recording") and not _SOUND.fullmatch(value):
            skipped.append(f"{text}: {value!r} is not a sound name")
            continue
        media.append(f"{prompt.kind}:{value}")
    return media, skipped


def sounds_needed(prompts: Iterable[str]) -> list[str]:
    """The sound names (without variables) that ``prompts`` play, for the catalog check."""
    names = []
    for text in prompts:
        try:
            prompt = parse_prompt(text)
        except PromptError:
            continue
        if prompt.kind == "sound" and not prompt.variables:
            names.append(prompt.value)
        elif prompt.kind == "date":
            names.extend(["digits/day-0", "digits/mon-0", "digits/h-1"])
    return names


class SoundCatalog:
    """The sounds an Asterisk has, per language."""

    def __init__(self, sounds: Mapping[str, Iterable[str]]) -> None:
        self._by_language = {lang: set(names) for lang, names in sounds.items()}

    @property
    def languages(self) -> list[str]:
        return sorted(self._by_language)

    def has(self, name: str, language: str) -> bool:
        if name.startswith("/"):
            return True  # an absolute file: Asterisk's own path, not checked here
        return name in self._by_language.get(language, set())

    @classmethod
    def from_directory(cls, root: Path, chroot: Path | None = None) -> SoundCatalog:
        """Asterisk's sounds directory: ``<root>/<language>/<name>.<format>``. With
        ``chroot``, absolute symlinks (Debian's alternatives) resolve inside that root."""
        sounds: dict[str, set[str]] = {}
        for entry in sorted(root.iterdir()) if root.is_dir() else []:
            language_dir = _resolve(entry, chroot)
            if not language_dir.is_dir():
                continue
            names = sounds.setdefault(entry.name, set())
            for file in language_dir.rglob("*"):
                if file.is_file() and file.suffix:
                    names.add(str(file.relative_to(language_dir).with_suffix("")))
        return cls(sounds)

    @classmethod
    def from_ari(cls, listing: Iterable[Mapping[str, object]]) -> SoundCatalog:
        """ARI's ``GET /sounds``: ``[{id, formats: [{language, format}]}]``."""
        sounds: dict[str, set[str]] = {}
        for sound in listing:
            name = str(sound.get("id", ""))
            formats = sound.get("formats")
            for fmt in formats if isinstance(formats, list) else []:
                if isinstance(fmt, Mapping):
                    sounds.setdefault(str(fmt.get("language", "")), set()).add(name)
        return cls(sounds)


def _resolve(path: Path, chroot: Path | None) -> Path:
    """Follow symlinks, reading absolute targets as paths inside ``chroot``."""
    for _ in range(16):
        if not path.is_symlink():
            return path
        target = Path(path.readlink())
        if target.is_absolute():
            path = (chroot / target.relative_to("/")) if chroot is not None else target
        else:
            path = path.parent / target
    return path
