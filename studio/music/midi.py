"""A checked tune as a Standard MIDI File: music21 writes it, repeats played out, one General MIDI
instrument, and text events carrying the parameters and the statement that the tune is AI-generated."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.errors import StudioError

# General MIDI programs (0-based) for the instruments offered; the built-in synthesiser imitates each.
INSTRUMENTS = {"piano": 0, "harp": 46, "violin": 40, "flute": 73, "accordion": 21, "guitar": 24,
               "whistle": 78, "clarinet": 71}


@dataclass
class Performance:
    """What a player needs: notes as (start seconds, duration seconds, MIDI note, velocity 0-127)."""
    notes: list[tuple[float, float, int, int]]
    seconds: float


def check_instrument(name: str) -> int:
    if name not in INSTRUMENTS:
        raise StudioError(f"instrument must be one of {', '.join(INSTRUMENTS)}; got {name!r}")
    return INSTRUMENTS[name]


def played_score(score):
    """The score with its repeats played out (as a listener hears it); as written when music21 cannot
    expand them (an unmatched repeat sign)."""
    import copy

    try:
        played = score.expandRepeats()
    except Exception:  # music21 raises several kinds for repeats it cannot pair: play it as written
        return _without_repeats(copy.deepcopy(score))
    # Repeated measures share their clef, key, metre and tempo objects, which music21's MIDI writer refuses
    # to place twice; give each repetition its own copy.
    seen: set[int] = set()
    for measure in list(played.recurse().getElementsByClass("Measure")):
        for element in list(measure.getElementsByClass(["TimeSignature", "KeySignature", "MetronomeMark", "Clef"])):
            if id(element) in seen:
                measure.replace(element, copy.deepcopy(element))
            else:
                seen.add(id(element))
    return played


def _without_repeats(score):
    """The score with its repeat signs made plain bar lines (music21's MIDI writer would try, and fail, to
    expand them again)."""
    from music21 import bar, repeat

    for measure in score.recurse().getElementsByClass("Measure"):
        for side in ("leftBarline", "rightBarline"):
            if isinstance(getattr(measure, side), bar.Repeat):
                setattr(measure, side, bar.Barline("regular"))
        for element in list(measure.getElementsByClass(repeat.RepeatExpression)):
            measure.remove(element)
    for spanner in list(score.recurse().getElementsByClass("RepeatBracket")):
        for site in list(spanner.sites.get()):
            if hasattr(site, "remove"):
                try:
                    site.remove(spanner)
                except Exception:  # not in this site's elements
                    pass
    return score


def performance(score) -> Performance:
    """Note events in seconds, following the score's tempo marks (ties joined, repeats played out)."""
    from music21 import chord, note

    flat = played_score(score).flatten().stripTies()
    events = []
    for item in flat.secondsMap:
        element = item["element"]
        if isinstance(element, (note.Note, chord.Chord)) and item["durationSeconds"] > 0:
            for pitch in element.pitches:
                events.append((float(item["offsetSeconds"]), float(item["durationSeconds"]), int(pitch.midi), 90))
    if not events:
        raise StudioError("the tune has no notes to play")
    return Performance(sorted(events), max(start + length for start, length, _, _ in events))


def midi_stream(score, program: int):
    """A flat copy of the score (repeats played out, ties joined) for music21's MIDI writer: one part with
    the instrument, the first clef-free metre, key and tempo, then every note, chord and rest at its
    offset. Writing the score itself fails when repeated measures share one metre object."""
    import copy

    from music21 import chord, instrument, note, stream, tempo

    flat = played_score(score).flatten().stripTies()
    part = stream.Part()
    part.insert(0, instrument.instrumentFromMidiProgram(program))
    for kind in ("TimeSignature", "KeySignature"):
        first = flat.getElementsByClass(kind).first()
        if first is not None:
            part.insert(0, copy.deepcopy(first))
    for element in flat:
        if isinstance(element, (note.Note, chord.Chord, note.Rest, tempo.MetronomeMark)):
            part.insert(element.offset, copy.deepcopy(element))
    return stream.Score([part])


def write_midi(score, path: Path, instrument: str, texts: list[str]) -> Path:
    """Write the score (repeats played out) as a MIDI file with the instrument's program and `texts` as
    text events at the start of the first track."""
    from music21 import midi

    program = check_instrument(instrument)
    mf = midi.translate.streamToMidiFile(midi_stream(score, program))
    track = mf.tracks[0]
    events = []
    for text in texts:
        delta = midi.DeltaTime(track, time=0)
        event = midi.MidiEvent(track, type=midi.MetaEvents.TEXT_EVENT)
        event.data = text.encode("utf-8")
        events += [delta, event]
    track.events[0:0] = events
    mf.open(str(path), "wb")
    try:
        mf.write()
    finally:
        mf.close()
    return path


def midi_texts(path: Path) -> list[str]:
    """The text events of a MIDI file (to read the parameters back)."""
    from music21 import midi

    mf = midi.MidiFile()
    mf.open(str(path))
    try:
        mf.read()
    finally:
        mf.close()
    return [e.data.decode("utf-8", errors="replace") for t in mf.tracks for e in t.events
            if isinstance(e, midi.MidiEvent) and e.type == midi.MetaEvents.TEXT_EVENT]
