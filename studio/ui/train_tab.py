"""Train tab and the `/train`, `/job_status`, `/job_cancel`, `/job_resume`, `/job_delete` and `/jobs` endpoints.

Training runs in a background process; this tab only starts it and watches its files, so a page reload or
an app restart re-attaches to running jobs.
"""
from __future__ import annotations

import gradio as gr
import pandas as pd

from ..services import training
from ..services.training import BACKGROUNDS, builtin_sets, start_training
from . import train_text
from .common import COMPUTE, file_paths, optional, user_errors

# Families the image form trains: image generators, and per-style networks (content images in `files`, the
# style in `style`). Text models have their own form below it (ui/train_text.py); the public /train takes
# every family, text ones included. The AdaIN decoder is trained from the CLI.
IMAGE_FAMILIES = [(title, name) for title, name in training.trainable_families() if name not in ("text", "lora", "adain")]
NO_BUILTIN = "none (use my uploads)"


@user_errors
def train(family: str, name: str, files: list[str] | None = None, builtin: str | None = None,
          image_size: int = 32, color: bool = False, steps: int | None = None, batch_size: int | None = None,
          learning_rate: float | None = None, seed: int = 0, fit: str = "crop", background: str = "white",
          flip: bool = False, style: str | None = None, base_model: str | None = None,
          progress=gr.Progress()):
    """Start training a new model in the background; returns the job id, a data report, and the status.

    Data: uploaded images (PNG, JPEG, WebP) and/or zips of them, or a built-in set (`builtin`, e.g. "digits").
    Empty steps, batch_size or learning_rate use the family's defaults.
    family "style" trains a per-style network for the image `style`: `files` are its content images (empty:
    the installed photos) and `image_size` its training size (64-256 px); the finished network is a
    `method` of /stylize.
    family "text" trains a small GPT-2 from scratch on .txt files or zips of them (or `builtin` "fortunes",
    "fortunes-poems"); "lora" fine-tunes `base_model` (default SmolLM2-135M-Instruct) with a LoRA adapter.
    /train_text takes the text-only settings (model size, tokenizer, context).
    """
    builtin = None if builtin in (None, "", NO_BUILTIN) else builtin
    family = family or "vae"
    common = dict(files=file_paths(files) or None, builtin=builtin, steps=optional(steps),
                  batch_size=optional(batch_size), learning_rate=optional(learning_rate), seed=optional(seed),
                  style=optional(style), base_model=optional(base_model))
    if family == "lora":
        common["base_model"] = common["base_model"] or training.DEFAULT_LORA_BASE
    elif family == "style":
        common["image_size"] = image_size
        progress(0, desc="preparing content and style images")
    elif family not in ("text", "adain"):
        common.update(image_size=image_size, color=bool(color), fit=fit or "crop", background=background or "white",
                      flip=bool(flip), progress=lambda i: progress(None, desc=f"preparing images ({i} read)"))
        progress(0, desc="preparing images")
    result = start_training(family, name, **common)
    return result["job"], result["report"], result["status"]


def _loss_frame(job: str) -> pd.DataFrame:
    rows = training.job_losses(job)
    records = [{"step": r["step"], "loss": name, "value": v}
               for r in rows for name, v in r.items() if name != "step" and isinstance(v, (int, float))]
    return pd.DataFrame(records, columns=["step", "loss", "value"])


def _summary(st: dict) -> str:
    state = st.get("state", "?")
    parts = [f"**{state}**", f"step {st.get('step', 0)} / {st.get('steps', '?')}"]
    if st.get("speed"):
        parts.append(f"{st['speed']} {st.get('speed_unit', '')}")
    if state in training.ACTIVE_STATES and st.get("eta_seconds") is not None:
        eta = int(st["eta_seconds"])
        parts.append(f"ETA {eta // 60} min {eta % 60} s")
    if st.get("message"):
        parts.append(st["message"])
    return " · ".join(parts)


@user_errors
def job_status(job: str):
    """A job's status (state, step, steps, speed, ETA, message, model), its loss curves and latest samples."""
    st = training.job_status(job)
    sample = training.job_sample(job)
    return st, _loss_frame(job), str(sample) if sample else None, _summary(st)


@user_errors
def job_cancel(job: str) -> dict:
    """Stop a running job after its current step; it keeps its last checkpoint so it can be resumed."""
    return training.cancel_job(job)


@user_errors
def job_resume(job: str) -> dict:
    """Continue a cancelled (or failed) job from its last checkpoint."""
    return training.resume_job(job)


@user_errors
def job_delete(job: str) -> str:
    """Delete a finished, failed or cancelled job: its folder (data copy, checkpoints, logs) is removed and
    the model it saved stays. A running job must be cancelled first. Returns a message."""
    return training.delete_job(job)


@user_errors
def list_jobs() -> list[dict]:
    """Every training job, newest first, with its last status."""
    return training.list_jobs()


def _job_choices() -> list[str]:
    return [j["job"] for j in training.list_jobs()]


def _poll(job: str):
    # Called by the timer: quiet when no job is chosen, and never raises into the page.
    if not job:
        return gr.skip(), gr.skip(), gr.skip(), "No job chosen: start one, or pick one from the list."
    try:
        return job_status(job)
    except gr.Error as exc:
        return gr.skip(), gr.skip(), gr.skip(), str(exc)


def build(demo: gr.Blocks) -> None:
    gr.Markdown("Train a model on your own images. Training runs in the background: you can leave this page "
                "and come back; cancel keeps the last checkpoint, and resume continues from it.")
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            family = gr.Dropdown(IMAGE_FAMILIES, value=IMAGE_FAMILIES[0][1], label="Model family",
                                 elem_id="train-family")
            name = gr.Textbox(label="Model name", placeholder="my-model", elem_id="train-name",
                              info="letters, digits, '.', '_' and '-'")
            files = gr.File(label="Your images (PNG, JPEG, WebP) or zips of them", file_count="multiple",
                            file_types=["image", ".zip"], elem_id="train-files")
            builtin = gr.Dropdown([NO_BUILTIN, *builtin_sets()], value=NO_BUILTIN, label="Or a built-in data set",
                                  elem_id="train-builtin")
            style_image = gr.Image(type="filepath", label="Style image (per-style networks: your uploads above "
                                   "are the content photos; none: the installed photos)", visible=False,
                                   elem_id="train-style-image")
            with gr.Row():
                image_size = gr.Dropdown([16, 32, 64, 96, 128, 160, 192, 256], value=32, label="Image size (px)",
                                         elem_id="train-size")
                color = gr.Checkbox(False, label="Colour (off: grey)", elem_id="train-color")
            with gr.Row():
                steps = gr.Number(2000, precision=0, label="Steps", elem_id="train-steps")
                batch_size = gr.Number(64, precision=0, label="Batch size", elem_id="train-batch")
            with gr.Row():
                learning_rate = gr.Number(None, label="Learning rate", info="empty: the family's default",
                                          elem_id="train-lr")
                seed = gr.Number(0, precision=0, label="Seed", elem_id="train-seed")
            with gr.Accordion("Pre-processing", open=False):
                fit = gr.Radio(["crop", "pad"], value="crop", label="Fit to square")
                background = gr.Dropdown(list(BACKGROUNDS), value="white", label="Background for transparency")
                flip = gr.Checkbox(False, label="Random horizontal flips")
            start = gr.Button("Start training", variant="primary", elem_id="train-start")
            report = gr.Textbox(label="Data report", lines=4, elem_id="train-report")
        with gr.Column(scale=2):
            with gr.Row():
                job = gr.Dropdown(_job_choices(), value=None, label="Job", allow_custom_value=True,
                                  elem_id="train-job")
                refresh = gr.Button("Refresh list", size="sm")
            summary = gr.Markdown(elem_id="train-summary")
            with gr.Row():
                cancel = gr.Button("Cancel", variant="stop", elem_id="train-cancel")
                resume = gr.Button("Resume", elem_id="train-resume")
                delete = gr.Button("Delete job", elem_id="train-delete")
            plot = gr.LinePlot(x="step", y="value", color="loss", label="Losses", height=260, elem_id="train-plot")
            sample = gr.Image(label="Latest samples (fixed seeds)", type="filepath", elem_id="train-sample")
            status = gr.JSON(label="Status", elem_id="train-status")
    train_text.build(demo, job, report, status, _job_choices)  # text models: the same job view below

    family.change(lambda f: (gr.update(visible=f == "style"), gr.update(value=128 if f == "style" else 32)),
                  family, [style_image, image_size], api_visibility="private", queue=False)
    start.click(train, [family, name, files, builtin, image_size, color, steps, batch_size, learning_rate, seed,
                        fit, background, flip, style_image], [job, report, status], api_name="_train_ui",
                api_visibility="private", concurrency_id=COMPUTE
                ).success(lambda j: gr.update(choices=_job_choices(), value=j), job, job, api_visibility="private",
                          queue=False)
    watch = [status, plot, sample, summary]
    job.change(_poll, job, watch, api_visibility="private", queue=False)
    gr.Timer(2.0).tick(_poll, job, watch, api_visibility="private", queue=False)
    cancel.click(job_cancel, job, status, api_name="job_cancel", concurrency_limit=None)
    resume.click(job_resume, job, status, api_name="job_resume", concurrency_limit=None)
    delete.click(job_delete, job, summary, api_name="job_delete", concurrency_limit=None).success(
        lambda: gr.update(choices=_job_choices(), value=None), None, job, api_visibility="private", queue=False)
    refresh.click(lambda: gr.update(choices=_job_choices()), None, job, api_visibility="private", queue=False)

    # Public endpoints for scripts; their triggers are hidden. /train reads plain inputs rather than the form's
    # dropdowns, so it takes every family (text ones too) and any image size the family allows.
    with gr.Row(visible=False):
        api_job = gr.Textbox(label="job")
        api_status = gr.Button("job status")
        api_list = gr.Button("jobs")
        api_jobs_out = gr.JSON()
        api_train = gr.Button("train")
        api_inputs = [gr.Textbox(value="vae", label="family"), gr.Textbox(label="name"),
                      gr.File(file_count="multiple", label="files"), gr.Textbox(label="builtin"),
                      gr.Number(32, precision=0, label="image_size"), gr.Checkbox(False, label="color"),
                      gr.Number(None, precision=0, label="steps"), gr.Number(None, precision=0, label="batch_size"),
                      gr.Number(None, label="learning_rate"), gr.Number(0, precision=0, label="seed"),
                      gr.Textbox("crop", label="fit"), gr.Textbox("white", label="background"),
                      gr.Checkbox(False, label="flip"), gr.Image(type="filepath", label="style"),
                      gr.Textbox(label="base_model")]
    api_train.click(train, api_inputs, [job, report, status], api_name="train", concurrency_id=COMPUTE)
    api_status.click(job_status, api_job, watch, api_name="job_status", concurrency_limit=None)
    api_list.click(list_jobs, None, api_jobs_out, api_name="jobs", concurrency_limit=None)

    def attach():
        # Re-attach after a reload or restart: pick the newest running job, else the newest job.
        all_jobs = training.list_jobs()
        running = [j["job"] for j in all_jobs if j.get("state") in training.ACTIVE_STATES]
        current = running[0] if running else (all_jobs[0]["job"] if all_jobs else None)
        return gr.update(choices=[j["job"] for j in all_jobs], value=current)

    demo.load(attach, None, job, api_visibility="private", queue=False)
