"""Compose tab and the `/compose` endpoint: a tune in ABC notation from an ABC model, with its score, MIDI
file and a recording.

`/compose` takes model, title, key, metre, unit, tempo, bars, temperature, top_k, top_p, seed, melody and
instrument, and returns the ABC text, the score (HTML holding the SVG), the SVG file, the MIDI file, the WAV
recording and the parameters (with notes such as a fallback synthesiser). The tab adds a melody upload.
"""
from __future__ import annotations

import gradio as gr

from ..services import compose as composing
from .common import COMPUTE, file_path, optional, rating_row, rating_updates, user_errors

KEYS = ["D", "G", "A", "E", "C", "F", "Bb", "Em", "Am", "Bm", "Dm", "Gm", "Ador", "Edor", "Dmix", "Amix"]
METRES = ["6/8", "4/4", "2/4", "3/4", "9/8", "12/8", "2/2", "C", "C|", "3/2", "5/4", "7/8"]
UNITS = ["1/8", "1/16", "1/4"]
SCORE_STYLE = "background:#fff;overflow-x:auto;padding:4px;border-radius:6px"


def _score_html(svg: str) -> str:
    return f'<div id="compose-score-svg" style="{SCORE_STYLE}">{svg}</div>'


@user_errors
def compose_api(model: str | None = None, title: str = "Untitled", key: str = "D", metre: str = "6/8",
                unit: str = "1/8", tempo: int = 110, bars: int = 16, temperature: float | None = None,
                top_k: int | None = None, top_p: float | None = None, seed: int = -1, melody: str = "",
                instrument: str = "piano"):
    """Compose one tune. Returns (ABC text, score HTML, score SVG file, MIDI file, WAV file, parameters).

    model: an ABC model's name (empty: the shipped folk-abc-char); key like D, Gm, Ador, Bb, F#m; metre like
    6/8, 4/4, C|; unit 1/1-1/32; tempo 20-400 beats per minute; bars 1-64; temperature 0-2; top_k 0-1000
    (0 off); top_p 0-1; seed -1 for random; melody: ABC to continue (optional); instrument: piano, harp,
    violin, flute, accordion, guitar, whistle or clarinet.
    """
    result = composing.compose(optional(model), title, key, metre, unit, 110 if tempo in (None, "") else tempo,
                               16 if bars in (None, "") else bars, optional(temperature),
                               None if top_k in (None, "") else int(top_k), optional(top_p),
                               -1 if seed in (None, "") else int(seed), melody or "", instrument or "piano")
    for note in result.notes:
        gr.Warning(note)
    params = {**result.parameters, "notes": result.notes, "gallery_id": result.gallery_id}  # for /rate
    return (result.abc, _score_html(result.svg_text), str(result.svg), str(result.midi), str(result.audio),
            params)


@user_errors
def _load_melody(upload) -> str:
    path = file_path(upload)
    if not path:
        return gr.update()
    return composing.read_melody_file(path)


def build(demo: gr.Blocks, tab: gr.Tab | None = None) -> None:
    choices = composing.abc_models()
    default = composing.DEFAULT_MODEL if composing.DEFAULT_MODEL in choices else (choices[0] if choices else None)
    d = composing.DEFAULTS
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            model = gr.Dropdown(choices, value=default, label="ABC model", allow_custom_value=True,
                                info="text models trained on tunes in ABC notation", elem_id="compose-model")
            title = gr.Textbox(d["title"], label="Title", elem_id="compose-title")
            with gr.Row():
                key = gr.Dropdown(KEYS, value=d["key"], label="Key", allow_custom_value=True,
                                  info="tonic, # or b, mode: D, Gm, Ador", elem_id="compose-key")
                metre = gr.Dropdown(METRES, value=d["metre"], label="Metre", allow_custom_value=True,
                                    elem_id="compose-metre")
                unit = gr.Dropdown(UNITS, value=d["unit"], label="Unit length", allow_custom_value=True,
                                   info="a plain note's length", elem_id="compose-unit")
            with gr.Row():
                tempo = gr.Slider(20, 400, value=d["tempo"], step=1, label="Tempo (beats per minute)",
                                  info="a beat is a dotted quarter in 6/8", elem_id="compose-tempo")
                bars = gr.Slider(*composing.BARS_RANGE, value=d["bars"], step=1, label="Bars to write",
                                 elem_id="compose-bars")
            settings = {}
            for name in ("temperature", "top_k", "top_p"):
                setting = composing.SETTINGS[name]
                settings[name] = gr.Slider(setting.minimum, setting.maximum, value=setting.default,
                                           step=1 if isinstance(setting.default, int) else 0.05,
                                           label=name.replace("_", " "), info=setting.help,
                                           elem_id=f"compose-{name.replace('_', '-')}")
            with gr.Row():
                seed = gr.Number(-1, precision=0, label="Seed", info="-1: random; the same seed gives the same tune",
                                 elem_id="compose-seed")
                instrument = gr.Dropdown(list(composing.INSTRUMENTS), value=d["instrument"], label="Instrument",
                                         elem_id="compose-instrument")
            melody = gr.Textbox("", label="Melody to continue (optional, ABC)", lines=4,
                                placeholder="|:A|dfa afd|... or a whole tune with its X:, M:, K: header",
                                elem_id="compose-melody")
            upload = gr.File(label="Or upload an .abc file", file_types=[".abc", ".txt"], elem_id="compose-upload")
            with gr.Row():
                run = gr.Button("Compose", variant="primary", elem_id="compose-button")
                stop = gr.Button("Stop", variant="stop", elem_id="compose-stop")
        with gr.Column(scale=2):
            score = gr.HTML(label="Score", elem_id="compose-score")
            recording = gr.Audio(label="Recording", type="filepath", elem_id="compose-audio")
            abc = gr.Textbox(label="ABC", lines=12, buttons=["copy"], elem_id="compose-abc")
            with gr.Row():
                midi_file = gr.File(label="MIDI", elem_id="compose-midi")
                svg_file = gr.File(label="Score (SVG)", elem_id="compose-svg")
            info = gr.JSON(label="Parameters", elem_id="compose-info")
            rating = rating_row("compose")

    inputs = [model, title, key, metre, unit, tempo, bars, settings["temperature"], settings["top_k"],
              settings["top_p"], seed, melody, instrument]
    event = run.click(compose_api, inputs, [abc, score, svg_file, midi_file, recording, info], api_name="compose",
                      concurrency_id=COMPUTE)
    stop.click(None, cancels=[event], api_visibility="private")
    event.then(lambda params: rating_updates([("the tune", (params or {}).get("gallery_id"))]), info,
               rating.outputs, api_visibility="private", show_progress="hidden")
    upload.upload(_load_melody, upload, melody, api_visibility="private")

    # ABC models trained or imported since the page opened appear when the tab is opened.
    def refresh(current):
        names = composing.abc_models()
        return gr.update(choices=names, value=current if current in names else (default or None))

    if tab is not None:
        tab.select(refresh, model, model, api_visibility="private", queue=False)
