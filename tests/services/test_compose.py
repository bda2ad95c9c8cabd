"""Compose with the shipped ABC model: every output (ABC, MIDI, WAV, SVG) checked for real, reproducibility,
continuing a melody, the refusals; and an ABC model trained from .abc uploads, as a model and as a LoRA."""
from __future__ import annotations

import json

import numpy as np
import pytest

from studio.core.errors import StudioError
from studio.music import audio, midi, notation
from studio.services import compose as composing
from studio.services.training import start_training
from studio.core import jobs
from studio.train import run
from tests.support.abc import KESH, write_tune_files

MODEL = composing.DEFAULT_MODEL


@pytest.fixture(scope="module")
def tune(tmp_path_factory):
    if MODEL not in composing.abc_models():
        pytest.fail(f"the shipped ABC model {MODEL} is missing from checkpoints/")
    return composing.compose(MODEL, title="Test reel", key="G", metre="4/4", unit="1/8", tempo=120, bars=8,
                             seed=11, instrument="violin", out_dir=tmp_path_factory.mktemp("compose"))


def test_every_output_is_checked_and_says_it_is_ai_generated(tune):
    checked = notation.check_tune(tune.abc)  # the ABC, comment lines and all, parses
    assert checked.fields["K"] == "G" and checked.fields["M"] == "4/4" and checked.bars >= 8
    lines = tune.abc.splitlines()
    assert lines[0] == "X:1" and lines[1].startswith("% AI-generated") and lines[2].startswith("% parameters: {")
    assert json.loads(lines[2].removeprefix("% parameters: "))["seed"] == 11
    assert tune.parameters["bars_filled"] <= tune.parameters["bars_written"]
    texts = midi.midi_texts(tune.midi)
    assert texts[0].startswith("AI-generated") and '"seed": 11' in texts[1]
    samples, tags = audio.read_wav(tune.audio)
    assert len(samples) / audio.SAMPLE_RATE >= 5 and np.sqrt(np.mean(samples ** 2)) > 0.02
    assert "AI-generated" in tags["comment"] and tags["title"] == "Test reel"
    assert tune.svg.read_text().startswith("<svg") and "AI-generated" in tune.svg_text
    assert tune.svg_text.count('class="note"') >= checked.notes - 4  # grace notes may be drawn apart


def test_the_same_seed_gives_the_same_tune(tune, tmp_path):
    again = composing.compose(MODEL, title="Test reel", key="G", metre="4/4", unit="1/8", tempo=120, bars=8,
                              seed=11, instrument="violin", out_dir=tmp_path / "a")
    assert again.abc == tune.abc
    other = composing.compose(MODEL, title="Test reel", key="G", metre="4/4", unit="1/8", tempo=120, bars=8,
                              seed=12, instrument="violin", out_dir=tmp_path / "b")
    assert other.abc != tune.abc


def test_continuing_a_melody(tmp_path):
    opening = "|:d2B dBG|d2B d2g|"
    result = composing.compose(MODEL, key="G", metre="6/8", bars=4, seed=3, melody=opening, out_dir=tmp_path)
    body = result.abc.split("\nK:G\n", 1)[1]
    assert body.startswith(opening) and len(body) > len(opening) + 10
    whole = composing.compose(MODEL, title="Untitled", key="D", metre="2/4", bars=4, seed=3,
                              melody=KESH.split("\n\n")[0], out_dir=tmp_path / "kesh")
    assert "\nK:G\n" in whole.abc and "M:6/8" in whole.abc and "T:The Kesh" in whole.abc
    assert any("replaces the form's" in n for n in whole.notes)


@pytest.mark.parametrize("kwargs, message", [
    ({"key": "H"}, "key 'H' is not a key"),
    ({"metre": "7/3"}, "metre '7/3' is not a metre"),
    ({"unit": "1/3"}, "unit length '1/3' must be one of"),
    ({"tempo": 1000}, "tempo must be a whole number of beats per minute, 20-400"),
    ({"bars": 0}, "bars"),
    ({"bars": 500}, "bars"),
    ({"temperature": 5}, "temperature"),
    ({"instrument": "theremin"}, "instrument must be one of"),
    ({"melody": "|:dfa afd|\nab&c|"}, "line 2 of the melody: '&' is not ABC notation"),
    ({"melody": "X:1\nM:6/8\nK:Q\nabc|"}, "line 3: the key 'Q'"),
    ({"model": "fortunes-char"}, "'fortunes-char' was not trained on ABC tunes.*folk-abc-char"),
    ({"model": "no-such-model"}, "no model named 'no-such-model'; ABC models: folk-abc-char"),
])
def test_bad_input_is_refused_clearly(kwargs, message):
    with pytest.raises(StudioError, match=message):
        composing.compose(**{"model": MODEL, "bars": 4, "seed": 1, **kwargs})


def test_uploaded_melodies_must_be_text(tmp_path):
    binary = tmp_path / "tune.abc"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(StudioError, match="tune.abc is not a text file"):
        composing.read_melody_file(binary)
    good = tmp_path / "kesh.abc"
    good.write_text(KESH, encoding="utf-8")
    assert composing.read_melody_file(good).startswith("% my tune book")


def test_an_abc_model_trained_from_uploads_composes_and_takes_a_lora(isolated_home, tmp_path):
    files = write_tune_files(tmp_path / "book", count=40)
    tiny = {"eval_every": 2, "eval_windows": 4, "warmup_steps": 1}
    result = start_training("text", "my-tunes", files=files, size="tiny", steps=2, batch_size=2, context=32,
                            recipe=tiny, start=False)
    assert run(jobs.job_dir(result["job"])) == "completed"
    lora = start_training("lora", "my-tunes-lora", files=files[:2], base_model="my-tunes", steps=2, batch_size=2,
                          context=32, recipe=tiny, start=False)
    assert run(jobs.job_dir(lora["job"])) == "completed"
    assert composing.abc_models() == ["my-tunes", "my-tunes-lora"]
    meta = composing.model_record("my-tunes").meta["dataset"]
    assert meta["format"] == "abc" and "tunes train" in meta["notes"]
    # An untrained model either writes a tune that passes every check, or is refused; never an unchecked one.
    try:
        out = composing.compose("my-tunes-lora", bars=2, seed=0, out_dir=tmp_path / "out")
    except StudioError as exc:
        assert "wrote no valid tune" in str(exc)
    else:
        notation.check_tune(out.abc)


def test_progress_counts_bars_and_stop_keeps_the_tune_finished_so_far(tmp_path):
    seen: list[tuple[float, str]] = []
    result = composing.compose(MODEL, key="D", metre="6/8", bars=64, seed=5, out_dir=tmp_path,
                               progress=lambda fraction, text: seen.append((fraction, text)),
                               cancelled=lambda: len(seen) > 4)
    assert seen[0] == (0.0, "draw 1: bar 0 of 64") and seen[1][1] == "draw 1: bar 1 of 64"
    fractions = [f for f, _ in seen[:5]]
    assert fractions == sorted(fractions) and len(set(fractions)) == 5
    assert result.parameters["stopped"] is True and result.parameters["draw"] == 1
    tune = notation.check_tune(result.abc)  # cut at its last full bar, checked like any other
    assert 3 <= tune.bars < 64 and tune.full_bars == tune.bars
    assert any(note.startswith("stopped after") for note in result.notes)


def test_stopped_before_a_bar_is_finished_keeps_nothing(tmp_path):
    with pytest.raises(composing.Stopped, match="stopped before a tune was finished"):
        composing.compose(MODEL, bars=16, seed=5, out_dir=tmp_path, cancelled=lambda: True)


def test_the_grammar_fills_every_bar(tmp_path):
    for seed, (key, metre) in enumerate([("D", "6/8"), ("G", "4/4"), ("Em", "3/4")]):
        result = composing.compose(MODEL, key=key, metre=metre, bars=8, seed=seed, out_dir=tmp_path / str(seed))
        assert result.parameters["bars_filled"] == result.parameters["bars_written"], result.abc
        # the bars asked for are full ones; a pick-up, if the model wrote one, comes on top
        assert result.parameters["bars_written"] - result.parameters["pickup"] == 8, result.abc
