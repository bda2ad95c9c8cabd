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
    start_training,
    text_sizes,
)
from .common import COMPUTE, file_paths, optional, user_errors

NO_BUILTIN = "none (use my uploads)"
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


def build(demo: gr.Blocks, job: gr.Dropdown, report: gr.Textbox, status: gr.JSON, job_choices) -> None:
    """The text training form, under the image form; it starts jobs into the tab's shared job view."""
    with gr.Accordion("Train a text model (your writing: .txt files or a zip)", open=False,
                      elem_id="train-text"):
        name = gr.Textbox(label="Model name", placeholder="my-poems", elem_id="train-text-name")
        files = gr.File(label="Your text (.txt), tunes in ABC (.abc) or zips of them", file_count="multiple",
                        file_types=[".txt", ".abc", ".zip"],
                        elem_id="train-text-files")
        builtin = gr.Dropdown([NO_BUILTIN, *builtin_corpora()], value=NO_BUILTIN, label="Or a built-in corpus",
                              elem_id="train-text-builtin")
        method = gr.Radio([FROM_SCRATCH, LORA], value=FROM_SCRATCH, label="Method", elem_id="train-text-method")
        with gr.Row():
            size = gr.Dropdown(text_sizes(), value="small", label="Size (from scratch)", elem_id="train-text-size")
            tokenizer = gr.Dropdown(["char", "bpe"], value="char", label="Tokenizer (from scratch)",
                                    elem_id="train-text-tokenizer")
        base_model = gr.Textbox(DEFAULT_LORA_BASE, label="Base model (LoRA)", elem_id="train-text-base")
        with gr.Row():
            steps = gr.Number(None, precision=0, minimum=1, label="Steps", info="empty: default",
                              elem_id="train-text-steps")
            batch_size = gr.Number(None, precision=0, minimum=1, label="Batch size", elem_id="train-text-batch")
            context = gr.Number(None, precision=0, minimum=8, label="Context (tokens)", elem_id="train-text-context")
        with gr.Row():
            learning_rate = gr.Number(None, label="Learning rate", elem_id="train-text-lr")
            seed = gr.Number(0, precision=0, label="Seed", elem_id="train-text-seed")
        start = gr.Button("Start text training", variant="primary", elem_id="train-text-start")
        sample = gr.Textbox(label="Latest text sample (fixed seeds)", lines=8, elem_id="train-text-sample")

    start.click(train_text, [name, files, builtin, method, base_model, size, tokenizer, steps, batch_size, context,
                             learning_rate, seed], [job, report, status], api_name="train_text",
                concurrency_id=COMPUTE
                ).success(lambda j: gr.update(choices=job_choices(), value=j), job, job, api_visibility="private",
                          queue=False)
    job.change(_text_sample, job, sample, api_visibility="private", queue=False)
    gr.Timer(3.0).tick(_text_sample, job, sample, api_visibility="private", queue=False)
