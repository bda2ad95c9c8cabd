"""Compose tab and the `/compose` endpoint: a tune in ABC notation from an ABC model, with its score, MIDI
file and a recording.

`/compose` takes model, title, key, metre, unit, tempo, bars, temperature, top_k, top_p, seed, melody and
instrument, and returns the ABC text, the score (HTML holding the SVG), the SVG file, the MIDI file, the WAV
recording and the parameters (with notes such as a fallback synthesiser). Progress (bars written) shows in
`job.status().progress_data`; `job.cancel()` stops the model within a character. The tab adds a melody
upload, a status line, the parameters as a table, and a Stop button that keeps what was finished.
"""
from __future__ import annotations

import re
import threading
import time

import gradio as gr

from ..services import compose as composing
from .common import (
    COMPUTE,
    file_path,
    optional,
    rating_row,
    rating_updates,
    stream_work,
    throttled,
    ui_event,
    user_errors,
)
from .views import key_values

KEYS = ["D", "G", "A", "E", "C", "F", "Bb", "Em", "Am", "Bm", "Dm", "Gm", "Ador", "Edor", "Dmix", "Amix"]
METRES = ["6/8", "4/4", "2/4", "3/4", "9/8", "12/8", "2/2", "C", "C|", "3/2", "5/4", "7/8"]
UNITS = ["1/8", "1/16", "1/4"]
SCORE_STYLE = "background:#fff;overflow-x:auto;padding:4px;border-radius:6px"


def _score_html(svg: str) -> str:
    """The score in the page, scaled down to the column's width when it is wider (verovio engraves at a
    fixed size in px; a viewBox lets the browser scale it, never above its own size)."""
    tag = re.match(r"<svg\b[^>]*>", svg)
    sizes = tag and re.search(r'width="(\d+)px" height="(\d+)px"', tag.group(0))
    if sizes:
        width, height = sizes.groups()
        opening = tag.group(0).replace(sizes.group(0), f'width="100%" style="max-width:{width}px;height:auto"')
        if "viewBox" not in opening:
            opening = opening.replace("<svg", f'<svg viewBox="0 0 {width} {height}"', 1)
        svg = opening + svg[tag.end():]
    return f'<div id="compose-score-svg" style="{SCORE_STYLE}">{svg}</div>'


def _arguments(model, title, key, metre, unit, tempo, bars, temperature, top_k, top_p, seed, melody,
               instrument) -> dict:
    """compose()'s arguments from the form or a script, empty fields taking their defaults."""
    return {"model": optional(model), "title": title, "key": key, "metre": metre, "unit": unit,
            "tempo": 110 if tempo in (None, "") else tempo, "bars": 16 if bars in (None, "") else bars,
            "temperature": optional(temperature), "top_k": None if top_k in (None, "") else int(top_k),
            "top_p": optional(top_p), "seed": -1 if seed in (None, "") else int(seed), "melody": melody or "",
            "instrument": instrument or "piano"}


def _composed(arguments: dict, progress, stop_early: threading.Event | None = None):
    """Compose in a worker thread, yielding ("progress", text) as bars are written, ("tick", None) while it
    is quiet, and ("done", Composition). Closing this generator (Stop, a client's cancel, a page left) ends the
    writing within a character; `stop_early` set does too, and then the tune finished so far is the result."""

    def work(emit, cancelled):
        stop = (lambda: cancelled() or stop_early.is_set()) if stop_early is not None else cancelled
        return composing.compose(**arguments, cancelled=stop,
                                 progress=throttled(lambda fraction, text: emit("progress", (fraction, text))))

    for kind, value in stream_work(work):
        if kind == "progress":
            progress(value[0], desc=value[1])
            yield kind, value[1]
        else:
            yield kind, value


def _outputs(result) -> tuple:
    params = {**result.parameters, "notes": result.notes, "gallery_id": result.gallery_id}  # for /rate
    return (result.abc, _score_html(result.svg_text), str(result.svg), str(result.midi), str(result.audio),
            params)


@user_errors
def compose_api(model: str | None = None, title: str = "Untitled", key: str = "D", metre: str = "6/8",
                unit: str = "1/8", tempo: int = 110, bars: int = 16, temperature: float | None = None,
                top_k: int | None = None, top_p: float | None = None, seed: int = -1, melody: str = "",
                instrument: str = "piano", progress=gr.Progress()):
    """Compose one tune. Returns (ABC text, score HTML, score SVG file, MIDI file, WAV file, parameters).

    model: an ABC model's name (empty: the shipped folk-abc-char); key like D, Gm, Ador, Bb, F#m; metre like
    6/8, 4/4, C|; unit 1/1-1/32; tempo 20-400 beats per minute; bars 1-64; temperature 0-2; top_k 0-1000
    (0 off); top_p 0-1; seed -1 for random; melody: ABC to continue (optional); instrument: piano, harp,
    violin, flute, accordion, guitar, whistle or clarinet. Progress (bars written) shows in
    `job.status().progress_data`; `job.cancel()` stops the model within a character.
    """
    arguments = _arguments(model, title, key, metre, unit, tempo, bars, temperature, top_k, top_p, seed, melody,
                           instrument)
    # A generator, so a client's cancel closes it and the writing ends at once.
    for kind, value in _composed(arguments, progress):
        if kind == "done":
            for note in value.notes:
                gr.Warning(note)
            yield _outputs(value)
        else:
            yield gr.skip()


# Stop asks a running composition to finish early: the writing ends within a character and the tune finished
# so far (cut at its last full bar, checked like any other) becomes the result, which a cancel would lose.
_finish_early: dict[str, threading.Event] = {}


def _compose_from_ui(model, title, key, metre, unit, tempo, bars, temperature, top_k, top_p, seed, melody,
                     instrument, request: gr.Request, progress=gr.Progress()):
    arguments = _arguments(model, title, key, metre, unit, tempo, bars, temperature, top_k, top_p, seed, melody,
                           instrument)
    session = getattr(request, "session_hash", None) or "page"
    finish = _finish_early[session] = threading.Event()
    skip = gr.skip()
    started = time.monotonic()
    try:
        for kind, value in _composed(arguments, progress, finish):
            if kind == "progress":
                yield (skip,) * 7 + (f"**Working**: {value}",) + (skip,) * 5
            elif kind == "done":
                outputs = _outputs(value)
                params = outputs[-1]
                pickup = bool(params.get("pickup"))  # a pick-up leads in; the bars asked for are full ones
                bars_done = params.get("bars_written", 0) - pickup
                head = "**Stopped**" if params.get("stopped") else "**Done**"
                notes = "".join(f"; {n}" for n in value.notes)
                status = (f"{head}: {params.get('title')}, {bars_done} bars{' and a pick-up' if pickup else ''} "
                          f"in {params.get('key')}, "
                          f"{params.get('metre')}, in {time.monotonic() - started:.1f} s{notes}")
                table = key_values(params, skip=("weights", "studio_version", "notes", "gallery_id"))
                yield (*outputs, table, status, *rating_updates([("the tune", value.gallery_id)]))
            else:
                yield (skip,) * 13
    except composing.Stopped as exc:
        yield (skip,) * 7 + (f"**Stopped** {exc}; press **Compose** to start again.",) + (skip,) * 5
    finally:
        if _finish_early.get(session) is finish:
            del _finish_early[session]


def _request_finish(request: gr.Request):
    flag = _finish_early.get(getattr(request, "session_hash", None) or "page")
    if flag is None:
        return gr.skip()
    flag.set()
    return "**Stopping**: the tune finished so far will be kept."


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
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            model = gr.Dropdown(choices, value=default, label="ABC model", allow_custom_value=True,
                                info="text models trained on tunes in ABC notation", elem_id="compose-model")
            title = gr.Textbox(d["title"], label="Title", elem_id="compose-title")
            with gr.Row():
                run = gr.Button("Compose", variant="primary", elem_id="compose-button", scale=2, min_width=100)
                stop = gr.Button("Stop", variant="stop", elem_id="compose-stop", scale=1, min_width=60)
            with gr.Row():
                key = gr.Dropdown(KEYS, value=d["key"], label="Key", allow_custom_value=True,
                                  info="tonic, # or b, mode: D, Gm, Ador", elem_id="compose-key")
                metre = gr.Dropdown(METRES, value=d["metre"], label="Metre", allow_custom_value=True,
                                    elem_id="compose-metre")
                unit = gr.Dropdown(UNITS, value=d["unit"], label="Unit length", allow_custom_value=True,
                                   info="a plain note's length", elem_id="compose-unit")
            with gr.Row():
                bars = gr.Slider(*composing.BARS_RANGE, value=d["bars"], step=1, label="Bars to write",
                                 elem_id="compose-bars")
                instrument = gr.Dropdown(list(composing.INSTRUMENTS), value=d["instrument"], label="Instrument",
                                         elem_id="compose-instrument")
            with gr.Accordion("Tempo, sampling and seed", open=False):
                tempo = gr.Slider(20, 400, value=d["tempo"], step=1, label="Tempo (beats per minute)",
                                  info="a beat is a dotted quarter in 6/8", elem_id="compose-tempo")
                settings = {}
                for name in ("temperature", "top_k", "top_p"):
                    setting = composing.SETTINGS[name]
                    settings[name] = gr.Slider(setting.minimum, setting.maximum, value=setting.default,
                                               step=1 if isinstance(setting.default, int) else 0.05,
                                               label=name.replace("_", " "), info=setting.help,
                                               elem_id=f"compose-{name.replace('_', '-')}")
                seed = gr.Number(-1, precision=0, label="Seed", info="-1 or empty: random; the same seed gives "
                                 "the same tune", elem_id="compose-seed")
            with gr.Accordion("Continue a melody", open=False):
                melody = gr.Textbox("", label="Melody to continue (optional, ABC)", lines=4,
                                    placeholder="|:A|dfa afd|... or a whole tune with its X:, M:, K: header",
                                    elem_id="compose-melody")
                upload = gr.File(label="Or upload an .abc file", file_types=[".abc", ".txt"],
                                 elem_id="compose-upload")
        with gr.Column(scale=2, elem_id="compose-outputs"):
            status = gr.Markdown("Press **Compose** to write a tune.", elem_id="compose-status",
                                 elem_classes=["status-line"])
            score = gr.HTML(label="Score", elem_id="compose-score")
            recording = gr.Audio(label="Recording", type="filepath", interactive=False, elem_id="compose-audio")
            abc = gr.Textbox(label="ABC", lines=12, buttons=["copy"], elem_id="compose-abc")
            with gr.Row():
                midi_file = gr.File(label="MIDI", interactive=False, elem_id="compose-midi")
                svg_file = gr.File(label="Score (SVG)", interactive=False, elem_id="compose-svg")
            table = gr.HTML(elem_id="compose-table")
            with gr.Accordion("Parameters as JSON", open=False):
                info = gr.JSON(label="Parameters", elem_id="compose-info")
            rating = rating_row("compose")

    inputs = [model, title, key, metre, unit, tempo, bars, settings["temperature"], settings["top_k"],
              settings["top_p"], seed, melody, instrument]
    outputs = [abc, score, svg_file, midi_file, recording, info]
    ui_event(run.click, _compose_from_ui, inputs, [*outputs, table, status, *rating.outputs],
             concurrency_id=COMPUTE, show_progress="hidden")
    stop.click(_request_finish, None, status, api_visibility="private", queue=False)
    ui_event(upload.upload, _load_melody, upload, melody)

    # The public endpoint takes its inputs from hidden components, so a script names only what it means.
    with gr.Row(visible=False):
        api_inputs = [gr.Textbox(label="model"), gr.Textbox(d["title"], label="title"),
                      gr.Textbox(d["key"], label="key"), gr.Textbox(d["metre"], label="metre"),
                      gr.Textbox(d["unit"], label="unit"), gr.Number(d["tempo"], precision=0, label="tempo"),
                      gr.Number(d["bars"], precision=0, label="bars"), gr.Number(None, label="temperature"),
                      gr.Number(None, precision=0, label="top_k"), gr.Number(None, label="top_p"),
                      gr.Number(-1, precision=0, label="seed"), gr.Textbox("", label="melody"),
                      gr.Textbox(d["instrument"], label="instrument")]
        api_button = gr.Button("compose")
    api_button.click(compose_api, api_inputs, outputs, api_name="compose", concurrency_id=COMPUTE)

    # ABC models trained or imported since the page opened appear when the tab is opened.
    def refresh(current):
        names = composing.abc_models()
        return gr.update(choices=names, value=current if current in names else (default or None))

    if tab is not None:
        tab.select(refresh, model, model, api_visibility="private", queue=False)
