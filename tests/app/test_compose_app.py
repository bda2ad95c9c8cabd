"""`/compose` through the real app with gradio_client: ABC text, score, MIDI and an audible recording for any
seed, with the shipped ABC model; and a clear AppError for bad input."""
from __future__ import annotations

import numpy as np
import pytest
from gradio_client.exceptions import AppError

from studio.music import audio, midi, notation


def test_compose_endpoint_parameters(client):
    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [p["parameter_name"] for p in named["/compose"]["parameters"]] == [
        "model", "title", "key", "metre", "unit", "tempo", "bars", "temperature", "top_k", "top_p", "seed",
        "melody", "instrument"]


@pytest.mark.parametrize("seed", [0, 2026])
def test_compose_returns_abc_score_midi_and_sound(client, seed):
    abc, html, svg, midi_file, wav, params = client.predict(key="D", metre="6/8", bars=8, seed=seed,
                                                            instrument="flute", api_name="/compose")
    tune = notation.check_tune(abc)
    assert tune.bars >= 8 and "AI-generated" in abc
    assert html.startswith('<div id="compose-score-svg"') and "<svg" in html
    assert open(svg, encoding="utf-8").read().startswith("<svg")
    assert midi.midi_texts(midi_file)[0].startswith("AI-generated")
    samples, tags = audio.read_wav(wav)
    assert len(samples) / audio.SAMPLE_RATE >= 5 and np.sqrt(np.mean(samples ** 2)) > 0.02
    assert params["seed"] == seed and params["model"] == "folk-abc-char" and params["instrument"] == "flute"


def test_compose_refuses_bad_input(client):
    with pytest.raises(AppError, match="metre '13/5' is not a metre"):
        client.predict(metre="13/5", seed=1, api_name="/compose")
    with pytest.raises(AppError, match="not trained on ABC tunes"):
        client.predict(model="fortunes-char", seed=1, api_name="/compose")


def test_compose_progress_grows_and_a_cancel_stops_the_work(client):
    from tests.app.test_cancel_app import _cancel_stops_the_work

    job = client.submit(bars=64, seed=3, api_name="/compose")
    _cancel_stops_the_work(job, "bar")
    abc, *_ , params = client.predict(bars=2, seed=4, api_name="/compose")
    assert params["bars"] == 2 and params["seed"] == 4 and notation.check_tune(abc).notes > 0  # serves again
