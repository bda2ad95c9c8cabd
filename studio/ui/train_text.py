"""The text part of the Train tab and the `/train_text` endpoint: a GPT-2 from scratch or a LoRA fine-tune.

It shares the Train tab's job list, status, loss plot, cancel and resume (a text job is a job like any other);
it adds the text sample the worker writes (`sample.txt`), since the tab's sample view shows images.
"""
from __future__ import annotations

import gradio as gr

from ..core.errors import StudioError
from ..services.training import (
    DEFAULT_LORA_BASE,
    builtin_corpora,
    job_text_sample,
    propose_name,
    recipe_defaults,
    start_training,
    text_sizes,
)
from .common import COMPUTE, file_paths, number_or_default, optional, ui_event, user_errors

NO_BUILTIN = "none (use my uploads)"
DEFAULT_CORPUS = "fortunes"  # the form works as it opens: a name is proposed, and this corpus is its data
FROM_SCRATCH, LORA = "from scratch (GPT-2)", "fine-tune with LoRA"


@user_errors
def train_text(name: str, files: list[str] | None = None, builtin: str | None = None,
               method: str = FROM_SCRATCH, base_model: str | None = None, size: str = "small",
               tokenizer: str = "char", steps: int | None = None, batch_size: int | None = None,
               context: int | None = None, learning_rate: float | None = None, seed: int = 0):
    """Start training a text model in the background; returns the job id, a corpus report and the status.

    Data: uploaded .txt or .abc files and/or zips of them, or a built-in corpus ("fortunes", "fortunes-poems",
    "folk-abc", "folk-abc-essen"); a model trained on .abc tunes or folk-abc composes in the Compose tab.
    method "from scratch (GPT-2)" trains a new model (size tiny/small/medium/large, tokenizer char or bpe);
    "fine-tune with LoRA" trains an adapter on `base_model` (a text model's name, "SmolLM2-135M-Instruct",
    or a Hub id when online). Empty steps, batch_size, context or learning_rate use the defaults.
    """
    builtin = None if builtin in (None, "", NO_BUILTIN) else builtin
    common = dict(files=file_paths(files), builtin=builtin, steps=optional(steps), batch_size=optional(batch_size),
                  context=optional(context), learning_rate=optional(learning_rate), seed=seed or 0)
    if method in (LORA, "lora"):
        if not (base_model or "").strip():
            raise StudioError("choose the base model to fine-tune")
        result = start_training("lora", name, base_model=base_model, **common)
    elif method in (FROM_SCRATCH, "scratch", "", None):
        result = start_training("text", name, size=size or "small", tokenizer=tokenizer or "char", **common)
    else:
        raise StudioError(f"method must be {FROM_SCRATCH!r} or {LORA!r}; got {method!r}")
    return result["job"], result["report"], result["status"]


def _text_sample(job: str) -> str:
    if not job:
        return ""
    try:
        return job_text_sample(job)
    except StudioError:
        return ""


def _family_of(method: str) -> str:
    return "lora" if method in (LORA, "lora") else "text"


def _placeholders(method: str):
    """Each empty number box says what it means for this method: the recipe's default."""
    defaults = recipe_defaults(_family_of(method))
    return [gr.update(placeholder=f"empty: {defaults[key]:g}, the default" if key in defaults else "empty: default")
            for key in ("steps", "batch_size", "context", "learning_rate")]


def _method_changed(method: str):
    return (gr.update(value=propose_name(_family_of(method))), *_placeholders(method))


def _train_text_from_ui(name, files, builtin, method, base_model, size, tokenizer, steps, batch_size, context,
                        learning_rate, seed):
    if file_paths(files):  # uploads win over the built-in corpus the form starts with
        builtin = None
    job, report, _ = train_text.__wrapped__(
        name, files, builtin, method, base_model, size, tokenizer, number_or_default(steps),
        number_or_default(batch_size), number_or_default(context), number_or_default(learning_rate),
        number_or_default(seed))
    return job, report, propose_name(_family_of(method))


def build(demo: gr.Blocks, job: gr.Dropdown, report: gr.Textbox, status: gr.JSON, job_choices) -> None:
    """The text training form, under the image form; it starts jobs into the tab's shared job view."""
    defaults = recipe_defaults("text")

    def box(key: str, label: str, elem: str):
        shown = f"empty: {defaults[key]:g}, the default" if key in defaults else "empty: default"
        return gr.Textbox("", label=label, placeholder=shown, elem_id=elem)

    with gr.Accordion("Train a text model (your writing: .txt files or a zip)", open=False,
                      elem_id="train-text"):
        with gr.Row():
            name = gr.Textbox(propose_name("text"), label="Model name", elem_id="train-text-name")
            builtin = gr.Dropdown([NO_BUILTIN, *builtin_corpora()], value=DEFAULT_CORPUS, label="A built-in corpus",
                                  info="or upload your own text below", elem_id="train-text-builtin")
            start = gr.Button("Start text training", variant="primary", elem_id="train-text-start")
        files = gr.File(label="Your text (.txt), tunes in ABC (.abc) or zips of them", file_count="multiple",
                        file_types=[".txt", ".abc", ".zip"], height=110, elem_id="train-text-files")
        method = gr.Radio([FROM_SCRATCH, LORA], value=FROM_SCRATCH, label="Method", elem_id="train-text-method")
        with gr.Row():
            size = gr.Dropdown(text_sizes(), value="small", label="Size (from scratch)", elem_id="train-text-size")
            tokenizer = gr.Dropdown(["char", "bpe"], value="char", label="Tokenizer (from scratch)",
                                    elem_id="train-text-tokenizer")
            base_model = gr.Textbox(DEFAULT_LORA_BASE, label="Base model (LoRA)", elem_id="train-text-base")
        with gr.Row():
            steps = box("steps", "Steps", "train-text-steps")
            batch_size = box("batch_size", "Batch size", "train-text-batch")
            context = box("context", "Context (tokens)", "train-text-context")
            learning_rate = box("learning_rate", "Learning rate", "train-text-lr")
            seed = gr.Number(0, precision=0, label="Seed", elem_id="train-text-seed")
        sample = gr.Textbox(label="Latest text sample (fixed seeds)", lines=8, interactive=False,
                            elem_id="train-text-sample")

    ui_event(start.click, _train_text_from_ui, [name, files, builtin, method, base_model, size, tokenizer, steps,
                                                 batch_size, context, learning_rate, seed],
             [job, report, name], concurrency_id=COMPUTE)
    files.upload(lambda: gr.update(value=NO_BUILTIN), None, builtin, api_visibility="private", queue=False)
    method.change(_method_changed, method, [name, steps, batch_size, context, learning_rate],
                  api_visibility="private", queue=False)
    job.change(_text_sample, job, sample, api_visibility="private", queue=False)
    gr.Timer(3.0).tick(_text_sample, job, sample, api_visibility="private", queue=False)

    # The public endpoint reads hidden inputs, so scripts send numbers (or nothing) for the settings.
    with gr.Row(visible=False):
        api_inputs = [gr.Textbox(label="name"), gr.File(file_count="multiple", label="files"),
                      gr.Textbox(label="builtin"), gr.Textbox(FROM_SCRATCH, label="method"),
                      gr.Textbox(label="base_model"), gr.Textbox("small", label="size"),
                      gr.Textbox("char", label="tokenizer"), gr.Number(None, precision=0, label="steps"),
                      gr.Number(None, precision=0, label="batch_size"), gr.Number(None, precision=0, label="context"),
                      gr.Number(None, label="learning_rate"), gr.Number(0, precision=0, label="seed")]
        api_outputs = [gr.Textbox(label="job"), gr.Textbox(label="report"), gr.JSON(label="status")]
        api_button = gr.Button("train text")
    api_button.click(train_text, api_inputs, api_outputs, api_name="train_text", concurrency_id=COMPUTE)
