"""The music floor: checking ABC (messages name the line), bars that fill the metre, the grammar Compose
decodes under, and the real outputs: a MIDI file with text events, a WAV with tags that sounds, an SVG score."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from studio.core.errors import StudioError
from studio.music import audio, midi, notation, score
from studio.music import grammar
from studio.music.grammar import MelodyState

TUNE = "X:1\nT:Test jig\nM:6/8\nL:1/8\nQ:3/8=100\nK:D\nA|:dfa afd|g2e f2d|dcB AGF|1 E3 D2:|2 E3 D3|]\n"


@pytest.mark.parametrize("text, message", [
    ("X:1\nT:x\nM:4/4\nL:1/8\nK:D\nabc d|\nab&&c d|\n", r"line 7: '&' is not ABC notation"),
    ("X:1\nM:7/3\nK:D\nabc|\n", r"line 2: the metre '7/3' is not a metre"),
    ("X:1\nM:4/4\nK:H\nabc|\n", r"line 3: the key 'H' is not a key"),
    ("X:1\nM:4/4\nL:1/3\nK:D\nabc|\n", r"line 3: the unit length '1/3' must be one of"),
    ("X:1\nM:4/4\nQ:1/4=9000\nK:D\nabc|\n", r"line 3: the tempo must be a whole number of beats per minute"),
    ("X:1\nM:4/4\nK:D\nab [ce c|\n", r"line 4: a chord opened with '\[' is not closed"),
    ("X:1\nM:4/4\nK:D\nab \"G c|\n", r"line 4: a quoted chord or annotation is not closed"),
    ("abc|def|\n", r"line 1: the melody starts before a K: \(key\) line"),
    ("X:1\nT:only a header\nM:4/4\n", r"no K: \(key\) line"),
    ("X:1\nM:4/4\nK:D\n", r"a header but no melody"),
    ("", r"the tune is empty"),
    ("X:1\nK:D\nab\x00c|", r"not text"),
])
def test_malformed_abc_is_refused_naming_the_line(text, message):
    with pytest.raises(StudioError, match=message):
        notation.check_tune(text)


def test_a_good_tune_measures_its_bars_and_range():
    tune = notation.check_tune(TUNE)
    assert tune.fields["K"] == "D" and tune.fields["M"] == "6/8"
    assert tune.bars == 6 and tune.full_bars == 6 and tune.pickup  # pick-up, 3 full bars, two endings
    assert (tune.lowest, tune.highest) == (62, 81)  # D4 .. A5
    short = notation.check_tune("X:1\nM:4/4\nL:1/8\nK:D\nabcd efga|ab|abcd efga|abcd efga|]\n")
    assert short.bars == 4 and short.full_bars == 3 and not short.pickup


def test_header_values_are_checked_and_written():
    assert notation.check_key("F# m") == "F#m" and notation.check_metre("C|") == "C|"
    assert notation.header("T", "6/8", "1/8", "D", 120).splitlines() == ["X:1", "T:T", "M:6/8", "L:1/8",
                                                                         "Q:3/8=120", "K:D"]
    assert notation.beat("2/2") == "1/2" and notation.beat("3/4") == "1/4" and notation.beat("12/8") == "3/8"
    for bad in ("X", "Dflat", ""):
        with pytest.raises(StudioError, match="e.g. D, Gm, Ador"):
            notation.check_key(bad)
    with pytest.raises(StudioError, match="20-400"):
        notation.check_tempo(0)


def test_the_grammar_keeps_a_melody_well_formed():
    state = MelodyState()
    assert "\n" not in state.allowed() and "K" not in state.allowed() and " " not in state.allowed()
    state.feed("|:dfa afd|")
    assert state.bars == 1  # the opening |: closes nothing
    state.feed("^")
    assert state.allowed() <= set("ABCDEFGabcdefg^")
    state.feed("c [")
    assert "|" in state.allowed() and "1" in state.allowed()  # [| and [1 are a bar line and an ending
    state.feed("c")
    assert "\n" not in state.allowed() and "|" not in state.allowed() and "]" in state.allowed()
    state.feed("e] {")
    assert "|" not in state.allowed() and "}" not in state.allowed()  # a grace group holds a note
    state.feed("g")
    assert "}" in state.allowed() and " " not in state.allowed()
    state.feed("}a :")
    assert state.allowed() == {"|"}  # :| (never "::|", which music21 misreads)
    state.feed("|\n")
    assert state.bars == 2 and "\n" not in state.allowed()  # no blank line: it would end the tune
    state.feed("a" * 48)
    assert state.allowed() == {"|"}


def test_midi_carries_the_instrument_and_text_events(tmp_path):
    tune = notation.check_tune(TUNE)
    path = midi.write_midi(tune.score, tmp_path / "t.mid", "violin", ["AI-generated", "parameters: {}"])
    assert midi.midi_texts(path)[:2] == ["AI-generated", "parameters: {}"]
    from music21 import converter

    back = converter.parse(str(path))
    assert any(i.midiProgram == 40 for i in back.recurse().getElementsByClass("Instrument"))
    played = midi.performance(tune.score)
    assert len(played.notes) > len(list(tune.score.recurse().notes))  # repeats played out
    with pytest.raises(StudioError, match="instrument must be one of"):
        midi.check_instrument("theremin")
    # Repeats music21 cannot pair are played as written, and the MIDI file is still written.
    odd = notation.check_tune("X:1\nM:4/4\nL:1/8\nK:D\n|:abcd efga|:abcd efga:|abcd:|\n")
    assert midi.write_midi(odd.score, tmp_path / "odd.mid", "piano", []).stat().st_size > 0
    assert len(midi.performance(odd.score).notes) == 20


def test_the_built_in_synthesiser_records_an_audible_tagged_wav(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_SOUNDFONT", str(tmp_path / "missing.sf2"))
    tune = notation.check_tune(TUNE)
    path = midi.write_midi(tune.score, tmp_path / "t.mid", "flute", [])
    rec = audio.record(midi.performance(tune.score), path, tmp_path / "t.wav", "flute",
                       {"title": "Test jig", "comment": "AI-generated; seed 3"})
    assert rec.player == "built-in synthesiser" and rec.seconds >= 5
    assert any("missing.sf2" in n or "FluidSynth is not installed" in n for n in rec.notes)
    samples, tags = audio.read_wav(rec.path)
    assert tags["title"] == "Test jig" and "AI-generated" in tags["comment"]
    assert np.sqrt(np.mean(samples ** 2)) > 0.05  # audible, not silence
    spectrum = np.abs(np.fft.rfft(samples[:audio.SAMPLE_RATE]))
    peak = np.argmax(spectrum) * audio.SAMPLE_RATE / audio.SAMPLE_RATE  # Hz (1 s window)
    assert 280 < peak < 900  # the tune's first second sits between D4 and A5


def test_a_short_tune_plays_again_to_last_five_seconds(tmp_path):
    tune = notation.check_tune("X:1\nM:2/4\nL:1/8\nQ:1/4=300\nK:D\nabcd|]\n")
    rec = audio.record(midi.performance(tune.score), tmp_path / "t.mid", tmp_path / "t.wav", "piano", {},
                       player="synth")
    assert rec.seconds >= 5 and any("plays it" in n for n in rec.notes)


def test_fluidsynth_plays_when_installed(tmp_path):
    import shutil

    soundfont, _ = audio.find_soundfont()
    if not shutil.which("fluidsynth") or soundfont is None:
        pytest.skip("FluidSynth and a General MIDI SoundFont are not installed (apt-get install fluidsynth "
                    "fluid-soundfont-gm); the built-in synthesiser is tested above")
    tune = notation.check_tune(TUNE)
    path = midi.write_midi(tune.score, tmp_path / "t.mid", "violin", [])
    rec = audio.record(midi.performance(tune.score), path, tmp_path / "t.wav", "violin", {}, player="fluidsynth")
    assert rec.player.startswith("FluidSynth") and rec.seconds >= 5


def test_the_score_is_an_svg_with_every_note():
    svg = score.render_svg(TUNE)
    assert svg.startswith("<svg") and svg.count('class="note"') == len(list(notation.parse(TUNE).recurse().notes))
    assert "Test jig" in svg


# A public-domain jig from Aird's Airs (as normalised) on which verovio 6.4.1's ABC reader crashes its process.
LILLIBULLERO = """X:1
T:LILLIBULLERO, or PROTESTANT BOYS' -- JIG
M:6/8
L:1/8
K:G
 (A>.B)A c2c | (B>.c)B d2d | ceA (d2c) | BAG A3
| (A>.B)A c2c | (B>.c)B d2d | ceA (d2c) | BAG A3 :|
 (a2.e) (f2.e) | (a2.e) (f2.e) | efg agf | edc B2z
| fed cde | edc Bcd | ecA (d2c) | BAG A2 :]
"""


def test_a_crash_while_engraving_is_an_error_not_a_dead_server():
    try:
        svg = score.render_svg(LILLIBULLERO)
    except StudioError as exc:
        assert "verovio could not engrave the tune" in str(exc)
    else:  # a verovio that no longer crashes here must still give a score
        assert svg.startswith("<svg")
    assert score.render_svg(TUNE).startswith("<svg")  # and the next tune engraves as usual


def _time_state(metre: str = "6/8", unit: str = "1/8", body: str = "") -> MelodyState:
    return MelodyState.for_tune(f"X:1\nM:{metre}\nL:{unit}\nK:D\n").feed("\n" + body)


@pytest.mark.parametrize("metre, unit, units", [("6/8", "1/8", 6), ("4/4", "1/8", 8), ("C|", "1/8", 8),
                                                ("2/4", "1/16", 8), ("3/4", "1/4", 3), ("9/8", "1/8", 9)])
def test_a_bar_holds_the_metre_in_unit_lengths(metre, unit, units):
    assert grammar.bar_units(metre, unit) == units
    assert _time_state(metre, unit).capacity == units


@pytest.mark.parametrize("written, length", [
    ("d", 1), ("d2", 2), ("d/", Fraction(1, 2)), ("d/2", Fraction(1, 2)), ("d3/2", Fraction(3, 2)),
    ("d3/", Fraction(3, 2)), ("z2", 2), ("^f,2", 2), ("[dfa]2", 2), ("[df]", 1),
    ("d>B", 2), ("d2<B", Fraction(5, 2)), ("d>.B", 2), ("(3def", 2), ("(3d2ef", Fraction(8, 3)), ("(2de", 3),
    ("d-d", 2), ("{g}d2", 2), ("(de)", 2), ('"Am"d2', 2), ("!trill!d", 1), ("d2 ef", 4)])
def test_the_clock_counts_lengths_broken_rhythm_tuplets_and_chords(written, length):
    state = _time_state("12/8", "1/8", "|" + written + " ")
    assert state.used == length, (written, state.used)


def test_a_bar_line_comes_only_when_the_bar_is_full():
    state = _time_state("6/8", "1/8", "|:dfa afd|")
    assert state.bars == 1 and state.used == 0
    state.feed("d2B A")  # 4 units of 6, A still open
    allowed = state.allowed()
    assert "|" not in allowed and ":" not in allowed and " " in allowed
    assert {"2", "3"} <= allowed and "4" not in allowed  # A4 would overflow the bar
    state.feed("3")
    allowed = state.allowed()
    assert "|" in allowed and ":" in allowed
    assert not set("ABCDEFGabcdefgz^_=({") & allowed  # no note fits any more ([ only as [|)
    state.feed("|")
    assert state.bars == 2 and state.used == 0


def test_a_note_that_would_overflow_must_shrink():
    state = _time_state("3/4", "1/8", "|d2 B2 c3/ A")  # 5 1/2 units of 6 written, A would make 6 1/2
    allowed = state.allowed()
    assert "/" in allowed and not set("23468 |") & allowed
    state.feed("/")
    assert "|" in state.allowed()


def test_broken_rhythm_and_tuplets_are_finished_before_the_bar_line():
    state = _time_state("2/4", "1/8", "|d>")  # d is 3/2, the next note 1/2: 2 of 4 so far
    assert "|" not in state.allowed() and state.owed
    state.feed("e f ")
    assert state.used == 3
    state = _time_state("2/4", "1/8", "|d2 (3")  # three notes in the time of two
    assert "|" not in state.allowed() and " " not in state.allowed()
    state.feed("efg ")
    assert state.used == 4 and "|" in state.allowed()


def test_a_note_ends_only_at_a_length_that_leaves_room_for_its_tuplet():
    # 6/8: A2 and a triplet make 5 of 6 eighths; a second triplet's first note must be short enough for the
    # two notes it still owes. Ending it here (a space, a slur's close) at a full eighth's 2/3 would leave 1/3
    # for two notes: the melody used to get stuck there, writing spaces until it ran out of room.
    state = _time_state("6/8", "1/8", "|A2 (3FGA G (3G,")
    assert state.tuplet_left == 2
    allowed = state.allowed()
    assert "/" in allowed and not {" ", ")", "-"} & allowed, sorted(allowed)
    state.feed("/")
    assert " " in state.allowed() or "A" in state.allowed()  # G,/ fits: the next notes can follow


def test_a_grace_group_closes_after_a_few_notes():
    # grace notes take no time, so only a length bound ends a group the model will not close itself
    state = _time_state("6/8", "1/8", "|A2 {gfedcBAG")
    assert state.allowed() == {"}"}
    state.feed("}")
    assert "A" in state.allowed() and not state.grace_open
    assert "}" in _time_state("6/8", "1/8", "|A2 {ga").allowed() and len(_time_state("6/8", "1/8", "|A2 {ga").allowed()) > 1


def test_the_first_bar_may_be_a_pickup_and_a_melody_without_metre_keeps_no_time():
    state = _time_state("6/8", "1/8", "A")
    assert "|" in state.allowed()  # an opening pick-up
    state.feed("|")
    assert state.pickup and state.bars == 0  # a pick-up is not one of the bars asked for
    state.feed("d")
    assert "|" not in state.allowed()
    state.feed("efgab|")
    assert state.bars == 1 and state.pickup
    state.feed("d")
    assert "|" not in state.allowed()  # only the opening bar may be short
    full = _time_state("6/8", "1/8", "Adefga|")
    assert full.bars == 1 and not full.pickup
    untimed = MelodyState.for_tune("X:1\nK:D\n").feed("\nab")
    assert not untimed.keeps_time and "|" in untimed.allowed()


def test_random_walks_under_the_clock_fill_every_bar():
    """Characters drawn at random from what the grammar allows, in several metres: music21 finds every
    bar (after an opening pick-up) filled."""
    import random

    for seed, (metre, unit) in enumerate([("6/8", "1/8"), ("4/4", "1/8"), ("3/4", "1/8"), ("2/4", "1/16"),
                                          ("9/8", "1/8"), ("C|", "1/8")]):
        draw = random.Random(seed)
        head = f"X:1\nT:walk\nM:{metre}\nL:{unit}\nK:D\n"
        state = MelodyState.for_tune(head).feed("\n")
        text = ""
        while state.bars < 6 and len(text) < 3000:
            allowed = sorted(state.allowed())
            char = draw.choices(allowed, [6 if c in "ABCDEFGabcdefgz]}" else 3 if c == "|" else 1 for c in allowed])[0]
            text += char
            state.feed(char)
        assert state.fallbacks == 0 and state.bars >= 6, (metre, text)
        tune = notation.check_tune(head + text + "\n")
        assert tune.full_bars == tune.bars >= 6, (metre, text)
