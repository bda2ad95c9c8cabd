"""The write service: streaming, reproducibility, variations, stop strings, chat templates and bad input."""
from __future__ import annotations

import os
import time

import pytest

from studio.core.errors import StudioError
from studio.services import write as w
from tests.support.text import TYGER, save_tiny_text_model, tiny_llama_folder


@pytest.fixture(scope="module")
def tiny():
    save_tiny_text_model("write-tiny", context=32)
    return "write-tiny"


def test_stream_grows_and_ends_with_the_whole_text(tiny):
    w.UPDATE_SECONDS, old = 0.0, w.UPDATE_SECONDS
    try:
        updates = list(w.write("Tyger", model=tiny, max_new_tokens=40, seed=5))
    finally:
        w.UPDATE_SECONDS = old
    assert len(updates) > 3 and all(u.startswith("Tyger") for u in updates)
    assert all(len(a) <= len(b) for a, b in zip(updates, updates[1:]))
    assert updates[-1] == w.write_text("Tyger", model=tiny, max_new_tokens=40, seed=5)  # same seed, same text
    assert len(updates[-1]) <= len("Tyger") + 40  # char model: one character per token (fewer if it ends)
    # past the 32-token context the model keeps writing over a sliding window
    assert w.write_text("Tyger", model=tiny, max_new_tokens=40, seed=6) != updates[-1]


def test_variations_seeds_and_stop_strings(tiny):
    *_, draft = w.stream("In the", model=tiny, max_new_tokens=30, seed=11, variations=3)
    assert draft.done and len(draft.texts) == 3 and draft.parameters["seeds"] == [11, 12, 13]
    assert len(set(draft.texts)) > 1
    # A random tiny model may end early (it can draw the end-of-text token): take a seed whose text is long.
    seed = next(s for s in range(50) if len(w.write_text("In the", model=tiny, max_new_tokens=30, seed=s)) > 20)
    full = w.write_text("In the", model=tiny, max_new_tokens=30, seed=seed)[len("In the"):]
    stop = full[10:13]
    cut = w.write_text("In the", model=tiny, max_new_tokens=30, seed=seed, stop=["zzz", stop])
    assert cut == "In the" + full[:full.find(stop)]
    assert w.parse_stops("\\n\\n|END") == ["\n\n", "END"]


def test_greedy_and_top_p_zero_notes(tiny):
    *_, greedy = w.stream("Tyger", model=tiny, max_new_tokens=10, seed=1, temperature=0, variations=2)
    assert greedy.texts[0] == greedy.texts[1] and "greedy" in greedy.notes[0]
    *_, top_p0 = w.stream("Tyger", model=tiny, max_new_tokens=10, seed=99, top_p=0)
    assert top_p0.texts[0] == greedy.texts[0]


def test_bad_input_is_refused_or_handled(tiny):
    for bad in (0, 10**6, -1):
        with pytest.raises(StudioError, match="max_new_tokens must be between 1 and 2000"):
            w.write_text("Tyger", model=tiny, max_new_tokens=bad)
    with pytest.raises(StudioError, match="write a prompt"):
        w.write_text("   ", model=tiny)
    with pytest.raises(StudioError, match="temperature must be between"):
        w.write_text("Tyger", model=tiny, temperature=5)
    with pytest.raises(StudioError, match="variations must be between"):
        list(w.stream("Tyger", model=tiny, variations=50))
    with pytest.raises(StudioError, match="no chat template"):
        w.write_text("Tyger", model=tiny, chat=True)
    long_prompt = ("Tyger burning bright " * 5000)[:100_000]
    *_, draft = w.stream(long_prompt, model=tiny, max_new_tokens=5, seed=0)
    assert "shortened to its last 8,000" in draft.notes[0] and "reads at most 32 tokens" in draft.notes[1]
    assert len(draft.texts[0]) == 8000 + 5


def test_stopping_the_stream_stops_the_model(tiny):
    stream = w.write("Tyger", model=tiny, max_new_tokens=2000, seed=0)
    next(stream)
    next(stream)
    stream.close()  # what Gradio does on Stop; must return at once, not after 2000 tokens
    assert stream.gi_frame is None


def test_models_that_are_missing_or_not_allowed(tmp_path, monkeypatch):
    started = time.monotonic()
    with pytest.raises(StudioError, match="could not get 'someone/missing-model' from the Hugging Face Hub"):
        w.write_text("hi", model="someone/missing-model", max_new_tokens=2)
    assert os.environ["HF_HUB_OFFLINE"] == "1" and time.monotonic() - started < 60  # fails fast offline
    with pytest.raises(StudioError, match="not a model in this studio"):
        w.write_text("hi", model="no such model!", max_new_tokens=2)
    folder = tiny_llama_folder(tmp_path / "llama")
    with pytest.raises(StudioError, match="STUDIO_DATA_ROOTS"):
        w.write_text("hi", model=str(folder), max_new_tokens=2)
    monkeypatch.setenv("STUDIO_CHECKPOINTS", str(tmp_path / "no-shipped-models"))
    with pytest.raises(StudioError, match="default text model 'fortunes-char' is not installed"):
        w.write_text("hi", max_new_tokens=2)


def test_local_instruction_model_uses_its_chat_template(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_DATA_ROOTS", str(tmp_path))
    folder = tiny_llama_folder(tmp_path / "llama")
    *_, chat = w.stream("Tyger", model=str(folder), max_new_tokens=8, seed=3)
    assert chat.parameters["chat"] is True and chat.texts[0].startswith("Tyger\n\n")
    *_, plain = w.stream("Tyger", model=str(folder), max_new_tokens=8, seed=3, chat=False)
    assert plain.parameters["chat"] is False and plain.texts[0].startswith("Tyger")
    assert plain.texts[0][len("Tyger"):] != chat.texts[0][len("Tyger\n\n"):]
    assert set(TYGER) >= set(chat.texts[0]) - set("<>userasint")


def test_presets_and_model_list(tiny):
    presets = w.presets()
    assert set(presets) == {"poem", "story", "song"}
    for preset in presets.values():
        text = w.write_text(preset["prompt"], model=tiny, **{k: v for k, v in preset.items() if k != "prompt"
                                                             and k != "max_new_tokens"}, max_new_tokens=5)
        assert text.startswith(preset["prompt"])
    assert tiny in w.text_models() and "SmolLM2-135M-Instruct" in w.text_models()


def test_a_model_gets_its_own_sampling_defaults_unless_told_otherwise(tiny, monkeypatch):
    # SmolLM2 loops at the plain defaults; its entry gives it a repetition penalty.
    assert w.model_defaults("SmolLM2-135M-Instruct")["repetition_penalty"] > 1.0
    assert w.model_defaults(tiny) == {name: s.default for name, s in w.SETTINGS.items()}
    monkeypatch.setitem(w.MODEL_DEFAULTS, tiny, {"repetition_penalty": 1.3, "temperature": 0.5})
    *_, draft = w.stream("Tyger", model=tiny, max_new_tokens=5, seed=1)
    assert draft.parameters["repetition_penalty"] == 1.3 and draft.parameters["temperature"] == 0.5
    *_, draft = w.stream("Tyger", model=tiny, max_new_tokens=5, seed=1, repetition_penalty=1.0)
    assert draft.parameters["repetition_penalty"] == 1.0  # what the caller asks for wins
    assert 1 <= draft.parameters["tokens_written"] <= 5  # a random tiny model may draw its end token early
