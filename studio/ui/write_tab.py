"""Write tab and the `/write` endpoint: text from a language model, streamed token by token.

`/write` takes model, prompt, max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed and stop;
it streams the growing text, and its final value is the whole text (prompt included). With only a prompt it
uses the shipped default model. The tab adds presets, several variations at once and a Stop button.
"""
from __future__ import annotations

import gradio as gr

from ..services import write as writing
from .common import COMPUTE, number_or_default, on_stop, rating_row, rating_updates, ui_event, user_errors
from .views import key_values

SETTINGS = writing.SETTINGS


def _model_choices() -> list[str]:
    return writing.text_models()


def _none_if_empty(value):
    return None if value in (None, "") else value


@user_errors
def write_api(model: str | None = None, prompt: str = "", max_new_tokens: int = 200,
              temperature: float | None = None, top_k: int | None = None, top_p: float | None = None,
              repetition_penalty: float | None = None, seed: int = -1, stop: str | None = None,
              progress=gr.Progress()):
    """Write a continuation of `prompt`, streamed; the final value is the whole text, prompt included.

    model: a text model's name (empty: the shipped default), "SmolLM2-135M-Instruct", or a Hub id when online.
    max_new_tokens 1-2000; temperature 0-2 (0: greedy); top_k 0-1000 (0: off); top_p 0-1 (1: off);
    repetition_penalty 1-2 (1: off); seed -1 for random; stop: strings separated by '|' ('\\n' is a newline).
    Empty sampling settings take the model's defaults (SmolLM2: repetition penalty 1.1). Progress (tokens
    written) shows in `job.status().progress_data`; `job.cancel()` stops the model at the next token.
    """
    shown = False
    for draft in writing.stream(prompt, _none_if_empty(model), max_new_tokens, _none_if_empty(temperature),
                                None if top_k in (None, "") else int(top_k), _none_if_empty(top_p),
                                _none_if_empty(repetition_penalty), -1 if seed in (None, "") else int(seed),
                                _none_if_empty(stop)):
        if draft.notes and not shown:
            shown = True
            for note in draft.notes:
                gr.Warning(note)
        written, most = draft.parameters.get("tokens_written", 0), draft.parameters.get("max_new_tokens", 1)
        progress(min(written / max(most, 1), 1.0), desc=f"token {written}/{most}")
        yield draft.texts[0]


def _write_from_ui(model, prompt, max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed, stop,
                   variations, progress=gr.Progress()):
    count = int(variations)
    seed = number_or_default(seed)
    shown = False
    for draft in writing.stream(prompt, _none_if_empty(model), int(max_new_tokens), temperature, int(top_k),
                                top_p, repetition_penalty, -1 if seed is None else seed, _none_if_empty(stop),
                                count):
        if draft.notes and not shown:
            shown = True
            for note in draft.notes:
                gr.Warning(note)
        texts = draft.texts + [""] * (writing.MAX_VARIATIONS - count)
        info = {**draft.parameters, "done": draft.done}
        written = draft.parameters.get("tokens_written", 0)
        if draft.done:
            status = f"**Done**: {written} tokens" + (" per variation" if count > 1 else "")
            # Only finished texts are kept in the gallery (a stopped one is not), so only they are rated.
            rating = rating_updates([(f"variation {i + 1}", item) for i, item in enumerate(draft.gallery_ids)])
        else:
            progress(min(written / max(int(max_new_tokens), 1), 1.0), desc=f"token {written}/{int(max_new_tokens)}")
            status = f"**Working**: token {written} of at most {int(max_new_tokens)}"
            rating = (gr.skip(),) * 5
        yield (*texts, info, key_values(info, skip=("studio_version", "weights")), status, *rating)


def _apply_preset(name: str):
    preset = writing.PRESETS[name]
    return (preset["prompt"], preset["max_new_tokens"], preset["temperature"], preset["top_k"], preset["top_p"],
            preset["repetition_penalty"], preset["stop"])


def _model_defaults(model: str):
    """The sampling sliders set to the chosen model's defaults (SmolLM2 needs a repetition penalty)."""
    defaults = writing.model_defaults(model)
    return [gr.update(value=defaults[name]) for name in SETTINGS]


def _show_variations(count: int):
    return [gr.update(visible=i < int(count)) for i in range(writing.MAX_VARIATIONS)]


def build(demo: gr.Blocks, tab: gr.Tab | None = None) -> None:
    choices = _model_choices()
    default = writing.DEFAULT_MODEL if writing.DEFAULT_MODEL in choices else (choices[0] if choices else None)
    defaults = writing.model_defaults(default)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            model = gr.Dropdown(choices, value=default, label="Model", allow_custom_value=True,
                                info="your text models, SmolLM2, or a Hub id (online only)", elem_id="write-model")
            prompt = gr.Textbox(writing.EXAMPLE_PROMPT, label="Prompt", lines=3, elem_id="write-prompt")
            with gr.Row():
                run = gr.Button("Write", variant="primary", elem_id="write-button", scale=2, min_width=100)
                cancel = gr.Button("Stop", variant="stop", elem_id="write-stop-button", scale=1, min_width=60)
            with gr.Row():
                gr.Markdown("Presets:", elem_classes=["preset-label"])
                presets = [gr.Button(name, size="sm", elem_id=f"write-preset-{name}", min_width=60)
                           for name in writing.PRESETS]
            max_new_tokens = gr.Slider(1, writing.MAX_NEW_TOKENS, value=200, step=1, label="Max new tokens",
                                       elem_id="write-max-new-tokens")
            with gr.Accordion("Sampling", open=False):
                controls = {}
                for name, setting in SETTINGS.items():
                    step = 1 if isinstance(setting.default, int) else 0.05
                    controls[name] = gr.Slider(setting.minimum, setting.maximum, value=defaults[name], step=step,
                                               label=name.replace("_", " "), info=setting.help,
                                               elem_id=f"write-{name.replace('_', '-')}")
                with gr.Row():
                    seed = gr.Number(-1, precision=0, label="Seed", info="-1 or empty: random; variation i uses "
                                     "seed + i", elem_id="write-seed")
                    variations = gr.Slider(1, writing.MAX_VARIATIONS, value=1, step=1, label="Variations",
                                           elem_id="write-variations")
                stop = gr.Textbox(label="Stop strings", placeholder="e.g. \\n\\n|THE END",
                                  info="separated by '|'; \\n is a newline", elem_id="write-stop")
        with gr.Column(scale=2, elem_id="write-outputs"):
            status = gr.Markdown("Press **Write** to continue the prompt.", elem_id="write-status",
                                 elem_classes=["status-line"])
            outputs = [gr.Textbox(label=f"Variation {i + 1}", lines=14, visible=i == 0, buttons=["copy"],
                                  interactive=False, elem_id=f"write-output-{i}")
                       for i in range(writing.MAX_VARIATIONS)]
            rating = rating_row("write")
            table = gr.HTML(elem_id="write-table")
            with gr.Accordion("Parameters as JSON", open=False):
                info = gr.JSON(label="Parameters", elem_id="write-info")

    settings = [controls[n] for n in SETTINGS]
    event = ui_event(run.click, _write_from_ui, [model, prompt, max_new_tokens, *settings, seed, stop, variations],
                     [*outputs, info, table, status, *rating.outputs], concurrency_id=COMPUTE,
                     show_progress="hidden")
    on_stop(cancel, event, status)
    variations.change(_show_variations, variations, outputs, api_visibility="private", queue=False)
    model.change(_model_defaults, model, settings, api_visibility="private", queue=False)
    for button, name in zip(presets, writing.PRESETS):
        button.click(lambda n=name: _apply_preset(n), None,
                     [prompt, max_new_tokens, *settings, stop], api_visibility="private", queue=False)

    # The public endpoint takes its inputs from hidden components, so a script names only what it means.
    with gr.Row(visible=False):
        api_inputs = [gr.Textbox(label="model"), gr.Textbox(label="prompt"),
                      gr.Number(200, precision=0, label="max_new_tokens"), gr.Number(None, label="temperature"),
                      gr.Number(None, precision=0, label="top_k"), gr.Number(None, label="top_p"),
                      gr.Number(None, label="repetition_penalty"), gr.Number(-1, precision=0, label="seed"),
                      gr.Textbox(label="stop")]
        api_output = gr.Textbox(label="text")
        api_button = gr.Button("write")
    api_button.click(write_api, api_inputs, api_output, api_name="write", concurrency_id=COMPUTE)

    # Text models trained or imported since the page opened appear when the tab is opened.
    def refresh(current):
        names = _model_choices()
        return gr.update(choices=names, value=current if current else default)

    demo.load(refresh, model, model, api_visibility="private", queue=False)
    if tab is not None:
        tab.select(refresh, model, model, api_visibility="private", queue=False)
