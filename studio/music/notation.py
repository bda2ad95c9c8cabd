"""Checking ABC: header values (key, metre, unit length, tempo), the melody's characters line by line, and
music21's reading of the whole tune; then what a checked tune measures (bars that fill the metre, range).

music21's ABC reader is forgiving (it reads `ab&&c|]]]` without complaint), so the studio checks the text
itself first and names the line of the first problem; a tune is valid only when both checks pass and
music21 finds notes in it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from ..core.errors import StudioError
from ..data.abc import KEY, key_fifths

MODES = ("maj", "min", "m", "mix", "dor", "phr", "lyd", "loc", "aeo", "ion")
METRES = re.compile(r"^(C\|?|(\d{1,2})/(1|2|4|8|16|32))$")
UNITS = ("1/1", "1/2", "1/4", "1/8", "1/16", "1/32")
TEMPO_RANGE = (20, 400)   # beats per minute
KEY_EXAMPLES = "D, Gm, Ador, Bb, F#m, Emix, Cdor"
# What may stand in a melody line once quoted text and !decorations! are set aside: notes, accidentals,
# octave marks, lengths, rests, bar lines and repeats, chords, ties, slurs, grace notes, tuplets, broken
# rhythm, spaces and the one-letter decorations.
MELODY_CHARS = set("ABCDEFGabcdefgzZxXy,'^_=/0123456789|:[]()-{}<>.~ \\HLMOPSTuv!")


@dataclass
class CheckedTune:
    """A tune music21 read: its header fields, music21's score and what it measures."""
    text: str
    fields: dict[str, str]
    score: object
    bars: int
    full_bars: int
    notes: int
    lowest: int   # MIDI note numbers
    highest: int
    problems: list[str] = field(default_factory=list)
    pickup: bool = False  # the first bar is a pick-up (shorter than the metre), one of `bars`

    @property
    def full_length_bars(self) -> int:
        """The bars after the pick-up, if any: what an artist asking for N bars counts."""
        return self.bars - self.pickup

    @property
    def bar_share(self) -> float:
        """Share of bars whose length fills the metre (a pick-up and its closing bar count as filled)."""
        return self.full_bars / self.bars if self.bars else 0.0


# -- header values ----------------------------------------------------------------------------------------
def check_key(key: str, field_name: str = "key") -> str:
    """A key as ABC writes it ('D', 'Gm', 'Ador', 'Bb mix') -> its compact form, or a StudioError."""
    text = re.sub(r"\s+", "", str(key or ""))
    if not KEY.match(text) or key_fifths(text) is None:
        raise StudioError(f"{field_name} {key!r} is not a key the studio knows; write a tonic A-G, optionally # or "
                          f"b, then a mode (maj, m, mix, dor, phr, lyd, loc), e.g. {KEY_EXAMPLES}")
    return text


def check_metre(metre: str, field_name: str = "metre") -> str:
    text = re.sub(r"\s+", "", str(metre or ""))
    m = METRES.match(text)
    if not m or (m.group(2) and not 1 <= int(m.group(2)) <= 32):
        raise StudioError(f"{field_name} {metre!r} is not a metre the studio knows; write beats/beat-value with a "
                          "beat value of 1, 2, 4, 8, 16 or 32 (e.g. 4/4, 6/8, 3/4, 2/2), or C or C|")
    return text


def check_unit(unit: str, field_name: str = "unit length") -> str:
    text = re.sub(r"\s+", "", str(unit or ""))
    if text not in UNITS:
        raise StudioError(f"{field_name} {unit!r} must be one of {', '.join(UNITS)}")
    return text


def check_tempo(tempo, field_name: str = "tempo") -> int:
    try:
        value = float(tempo)
    except (TypeError, ValueError):
        raise StudioError(f"{field_name} must be a number of beats per minute, {TEMPO_RANGE[0]}-{TEMPO_RANGE[1]}; "
                          f"got {tempo!r}") from None
    if not TEMPO_RANGE[0] <= value <= TEMPO_RANGE[1] or value != int(value):
        raise StudioError(f"{field_name} must be a whole number of beats per minute, "
                          f"{TEMPO_RANGE[0]}-{TEMPO_RANGE[1]}; got {tempo!r}")
    return int(value)


def metre_length(metre: str) -> Fraction:
    """A bar's length in whole notes: '6/8' -> 3/4; 'C' -> 1; 'C|' -> 1."""
    if metre.startswith("C"):
        return Fraction(1)
    beats, value = metre.split("/")
    return Fraction(int(beats), int(value))


def beat(metre: str) -> str:
    """The note that carries the beat, for a Q: field: a dotted quarter in 6/8, 9/8, 12/8; a half in 2/2 and
    C|; otherwise the metre's beat value."""
    if metre == "C|":
        return "1/2"
    if metre == "C":
        return "1/4"
    beats, value = (int(x) for x in metre.split("/"))
    if value >= 8 and beats % 3 == 0 and beats > 3:
        return f"3/{value}"
    return f"1/{value}"


def header(title: str, metre: str, unit: str, key: str, tempo: int | None = None, number: int = 1) -> str:
    """The header lines of a tune (X, T, M, L, [Q,] K), each value already checked."""
    lines = [f"X:{number}", f"T:{title}", f"M:{metre}", f"L:{unit}"]
    if tempo:
        lines.append(f"Q:{beat(metre)}={tempo}")
    return "\n".join(lines + [f"K:{key}"])


# -- checking a whole tune --------------------------------------------------------------------------------
def check_lines(text: str) -> dict[str, str]:
    """Check an ABC tune's text line by line; return its header fields. Raises a StudioError naming the line
    of the first problem: a missing or unknown key, metre or unit length, a character that is not ABC, or a
    chord, grace note group or quoted text left open."""
    if not str(text or "").strip():
        raise StudioError("the tune is empty; write ABC with at least a K: line and some notes")
    if "\x00" in text:
        raise StudioError("the tune is not text (it holds binary data); give ABC notation")
    fields: dict[str, str] = {}
    body_lines = 0
    in_header = True
    for number, raw in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        line = raw.split("%", 1)[0].rstrip() if not raw.startswith("%%") else ""
        if not line.strip():
            if not in_header and body_lines:
                break  # a blank line ends the tune
            continue
        m = re.match(r"^([A-Za-z]):(.*)$", line)
        if m and not line.startswith("|"):
            key, value = m.group(1), m.group(2).strip()
            where = f"line {number}"
            if key == "K":
                fields["K"] = check_key(value.split()[0] if value.split() else "", f"{where}: the key")
                in_header = False
            elif key == "M":
                fields.setdefault("M", check_metre(value, f"{where}: the metre"))
                if not in_header:
                    check_metre(value, f"{where}: the metre")
            elif key == "L":
                fields.setdefault("L", check_unit(value, f"{where}: the unit length"))
            elif key == "Q":
                tempo = value.split("=")[-1].strip()
                check_tempo(tempo, f"{where}: the tempo")
                fields.setdefault("Q", value)
            elif key == "T":
                fields.setdefault("T", value)
            elif key == "V":
                raise StudioError(f"line {number}: tunes in several voices (V:) are not supported; give one "
                                  "melody")
            continue
        if in_header:
            raise StudioError(f"line {number}: the melody starts before a K: (key) line; the header must end "
                              f"with K:, e.g. K:D")
        _check_melody_line(line, number)
        body_lines += 1
    if "K" not in fields:
        raise StudioError("the tune has no K: (key) line; put one at the end of the header, e.g. K:D")
    if not body_lines:
        raise StudioError("the tune has a header but no melody after its K: line")
    fields.setdefault("M", "none")
    return fields


def _check_melody_line(line: str, number: int) -> None:
    if line.count('"') % 2:
        raise StudioError(f'line {number}: a quoted chord or annotation is not closed (odd number of ")')
    bare = re.sub(r'"[^"]*"', "", line)
    bare = re.sub(r"![^!]*!", "", bare)
    for m in re.finditer(r"\[([KMLQ]):([^\]]*)\]", bare):
        check = {"K": lambda v: check_key(v.split()[0] if v.split() else ""), "M": check_metre, "L": check_unit,
                 "Q": lambda v: check_tempo(v.split("=")[-1])}[m.group(1)]
        try:
            check(m.group(2).strip())
        except StudioError as exc:
            raise StudioError(f"line {number}: {exc}") from None
    bare = re.sub(r"\[[A-Za-z]:[^\]]*\]", "", bare)
    for column, char in enumerate(bare, start=1):
        if char not in MELODY_CHARS:
            raise StudioError(f"line {number}: {char!r} is not ABC notation (in {line.strip()[:60]!r})")
    for opening, closing, what in (("[", "]", "chord"), ("{", "}", "grace-note group")):
        depth = 0
        for char in re.sub(r"\|\]|\[\||\[\d", "", bare):  # |] [| and [1 are bar lines and endings
            depth += (char == opening) - (char == closing)
            if depth < 0 or depth > 1:
                raise StudioError(f"line {number}: a {what} bracket {closing if depth < 0 else opening!r} has no "
                                  "partner")
        if depth:
            raise StudioError(f"line {number}: a {what} opened with {opening!r} is not closed on the same line")
    if not re.search(r"[A-Ga-gzZxX]", bare) and "|" not in bare:
        raise StudioError(f"line {number}: no notes, rests or bar lines in {line.strip()[:60]!r}")


def parse(text: str):
    """music21's score of a tune whose text passed `check_lines`, or a StudioError."""
    from music21 import converter

    try:
        score = converter.parse(text, format="abc")
    except Exception as exc:  # music21 raises many kinds; the user needs to know which tune failed and why
        raise StudioError(f"music21 could not read the tune: {type(exc).__name__}: {exc}") from None
    if not len(score.recurse().notes):
        raise StudioError("music21 found no notes in the tune")
    return score


def check_tune(text: str) -> CheckedTune:
    """Check a tune (lines, then music21) and measure it. Raises StudioError naming the line of a problem."""
    fields = check_lines(text)
    score = parse(text)
    bars, full, pickup = bar_counts(score, fields["M"])
    pitches = [p.midi for n in score.recurse().notes for p in n.pitches]
    return CheckedTune(text, fields, score, bars, full, len(pitches), min(pitches), max(pitches), pickup=pickup)


def bar_counts(score, metre: str) -> tuple[int, int, bool]:
    """(bars, bars that fill the header's metre, whether the first is a pick-up). A first bar shorter than
    the metre is a pick-up; a short bar that ends a section (a repeat or double bar) or the tune, and with the pick-up makes a whole bar,
    counts as filled, as does a short last bar. (music21's own bar length is not used: it invents a metre
    for a bar that does not fit.)"""
    from music21 import bar as m21bar

    measures = list(score.recurse().getElementsByClass("Measure"))
    if not measures:
        return 0, 0, False
    if not METRES.match(metre):
        return len(measures), 0, False
    target = float(metre_length(metre) * 4)
    pickup = 0.0
    full = 0
    for i, m in enumerate(measures):
        length = float(m.duration.quarterLength)
        if abs(length - target) < 1e-6:
            full += 1
            continue
        ends_section = isinstance(m.rightBarline, m21bar.Repeat) or (
            m.rightBarline is not None and m.rightBarline.type in ("double", "final", "light-heavy", "heavy-light"))
        if i == 0 and length < target:
            pickup = length
            full += 1
        elif length < target and (i == len(measures) - 1 or (ends_section and abs(length + pickup - target) < 1e-6)):
            full += 1
    return len(measures), full, pickup > 0
