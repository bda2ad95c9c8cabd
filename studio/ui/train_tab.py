"""Train tab and the `/train`, `/job_status`, `/job_cancel`, `/job_resume`, `/job_delete` and `/jobs` endpoints.

Training runs in a background process; this tab only starts it and watches its files, so a page reload or
an app restart re-attaches to running jobs.
"""
from __future__ import annotations

import re
import time

import gradio as gr
import pandas as pd

from ..core.errors import StudioError
from ..services import training
from ..services.training import BACKGROUNDS, builtin_sets, start_training
from . import train_text
from .charts import loss_chart
from .common import COMPUTE, file_paths, number_or_default, optional, ui_event, user_errors
from .views import duration, key_values

# Families the image form trains: image generators, and per-style networks (content images in `files`, the
# style in `style`). Text models have their own form below it (ui/train_text.py); the public /train takes
# every family, text ones included. The AdaIN decoder is trained from the CLI.
# A diffusion LoRA adapter is chosen as diffusion + a base model (the fine-tuning fields), not as a family.
IMAGE_FAMILIES = [(title, name) for title, name in training.trainable_families()
                  if name not in ("text", "lora", "adain", "diffusion-lora")]
NO_BUILTIN = "none (use my uploads)"
DEFAULT_BUILTIN = "digits"  # the form works as it opens: a model name is proposed, and this set is its data


@user_errors
def train(family: str, name: str, files: list[str] | None = None, builtin: str | None = None,
          image_size: int = 32, color: bool = False, steps: int | None = None, batch_size: int | None = None,
          learning_rate: float | None = None, seed: int = 0, fit: str = "crop", background: str = "white",
          flip: bool = False, style: str | None = None, base_model: str | None = None,
          adapter: str | None = None, rank: int | None = None, progress=gr.Progress()):
    """Start training a new model in the background; returns the job id, a data report, and the status.

    Data: uploaded images (PNG, JPEG, WebP) and/or zips of them, or a built-in set (`builtin`, e.g. "digits").
    Empty steps, batch_size or learning_rate use the family's defaults.
    family "style" trains a per-style network for the image `style`: `files` are its content images (empty:
    the installed photos) and `image_size` its training size (64-256 px); the finished network is a
    `method` of /stylize.
    family "text" trains a small GPT-2 from scratch on .txt files or zips of them (or `builtin` "fortunes",
    "fortunes-poems"); "lora" fine-tunes `base_model` (default SmolLM2-135M-Instruct) with a LoRA adapter.
    /train_text takes the text-only settings (model size, tokenizer, context).
    family "diffusion" with `base_model` (a diffusion model's name) fine-tunes it on your images: `adapter`
    "lora" (the default: a small adapter of rank `rank`, default 8, that points to the base) or "full" (every
    weight). `image_size` and `color` must match the base's.
    """
    builtin = None if builtin in (None, "", NO_BUILTIN) else builtin
    family = family or "vae"
    common = dict(files=file_paths(files) or None, builtin=builtin, steps=optional(steps),
                  batch_size=optional(batch_size), learning_rate=optional(learning_rate), seed=optional(seed),
                  style=optional(style), base_model=optional(base_model), adapter=optional(adapter),
                  rank=optional(rank))
    if family == "lora":
        common["base_model"] = common["base_model"] or training.DEFAULT_LORA_BASE
    elif family == "style":
        common["image_size"] = image_size
        progress(0, desc="preparing content and style images")
    elif family not in ("text", "adain"):
        common.update(image_size=optional(image_size), color=None if color is None else bool(color),
                      fit=fit or "crop", background=background or "white",
                      flip=bool(flip), progress=lambda i: progress(None, desc=f"preparing images ({i} read)"))
        progress(0, desc="preparing images")
    result = start_training(family, name, **common)
    return result["job"], result["report"], result["status"]


def _trained_family(family: str, base: str | None, adapter: str | None) -> str:
    # What the form trains: diffusion with a base and the LoRA adapter is a diffusion-lora model.
    return "diffusion-lora" if family == "diffusion" and base and adapter != "full" else (family or "vae")


def _match_base(base: str, adapter: str, family: str):
    # A fine-tune keeps its base's family, size and colour mode: show them, and the fine-tune's defaults.
    shapes = training.fine_tuning_bases().get(base or "")
    if not shapes:
        return gr.skip(), gr.skip(), gr.skip(), *_recipe_placeholders(_trained_family(family, None, adapter))
    return ("diffusion", shapes["image_size"], shapes["channels"] == 3,
            *_recipe_placeholders(_trained_family("diffusion", base, adapter)))


def _loss_frame(job: str) -> pd.DataFrame:
    rows = training.job_losses(job)
    records = [{"step": r["step"], "loss": name, "value": v}
               for r in rows for name, v in r.items() if name != "step" and isinstance(v, (int, float))]
    return pd.DataFrame(records, columns=["step", "loss", "value"])


def _eta(st: dict) -> float | None:
    """Seconds left, from the average time per step so far: steady, where the worker's own figure (from its
    last few steps) jumps with every preview and checkpoint."""
    step, steps, elapsed = st.get("step") or 0, st.get("steps") or 0, st.get("elapsed")
    if elapsed and step > 0 and steps > step:
        return elapsed / step * (steps - step)
    return st.get("eta_seconds")


def _summary(st: dict) -> str:
    state = st.get("state", "?")
    parts = [f"**{state}**", f"step {st.get('step', 0)} / {st.get('steps', '?')}"]
    if st.get("speed"):
        parts.append(f"{st['speed']} {st.get('speed_unit', '')}")
    if state in training.ACTIVE_STATES and _eta(st) is not None:
        parts.append(f"about {duration(_eta(st))} left")
    if st.get("elapsed"):
        parts.append(f"{duration(st['elapsed'])} so far" if state in training.ACTIVE_STATES
                     else f"trained for {duration(st['elapsed'])}")
    if st.get("message") and not str(st["message"]).startswith("step "):
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
    """The job view for the page (status line, chart, samples, status table, raw status), re-read every
    two seconds by the timer: quiet when no job is chosen, and never raising into the page."""
    if not job:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), "No job yet: start one, or pick one from the list."
    try:
        st = training.job_status(job)
        chart = loss_chart(training.job_losses(job))
        sample = training.job_sample(job)
    except StudioError as exc:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), str(exc)
    return st, chart, str(sample) if sample else None, key_values(_readable(st)), _summary(st)


def _readable(st: dict) -> dict:
    """The status as a person reads it: durations in minutes, the time of the last update, no process id."""
    shown = {k: v for k, v in st.items() if k not in ("losses", "pid", "eta_seconds", "elapsed", "updated")}
    if st.get("elapsed") is not None:
        shown["trained for"] = duration(st["elapsed"])
    if st.get("state") in training.ACTIVE_STATES and _eta(st) is not None:
        shown["time left"] = f"about {duration(_eta(st))}"
    if st.get("updated"):
        shown["updated"] = time.strftime("%H:%M:%S", time.localtime(st["updated"]))
    if isinstance(st.get("losses"), dict):
        shown["latest losses"] = st["losses"]
    return shown


def _recipe_placeholders(family: str):
    """Each empty number box says what it means for this family: its default."""
    defaults = training.recipe_defaults(family or "vae")
    return [gr.update(placeholder=f"empty: {defaults[key]:g}, the default" if key in defaults else "empty: default")
            for key in ("steps", "batch_size", "learning_rate")]


def _train_from_ui(family, name, files, builtin, image_size, color, steps, batch_size, learning_rate, seed, fit,
                   background, flip, style, base_model, adapter, rank, progress=gr.Progress()):
    # Uploads win over the built-in set the form starts with, so an artist who adds images trains on them.
    if file_paths(files) and family != "style":
        builtin = None
    if family == "style":
        builtin = None
    # The form always has an adapter chosen; it applies only when a base model is.
    if not base_model:
        adapter = rank = None
    job, report, status = train.__wrapped__(family, name, files, builtin, image_size, color,
                                            number_or_default(steps), number_or_default(batch_size),
                                            number_or_default(learning_rate), number_or_default(seed), fit,
                                            background, flip, style, base_model or None, adapter,
                                            number_or_default(rank), progress=progress)
    return gr.update(choices=_job_choices(), value=job), report, training.propose_name(family or "vae")


def _cancel_from_ui(job: str):
    if not job:
        raise StudioError("choose the job to cancel")
    training.cancel_job(job)
    return _poll(job)


def _resume_from_ui(job: str):
    if not job:
        raise StudioError("choose the job to resume")
    training.resume_job(job)
    return _poll(job)


def _delete_from_ui(job: str):
    if not job:
        raise StudioError("choose the job to delete")
    message = training.delete_job(job)
    return message, gr.update(choices=_job_choices(), value=None)


def _family_changed(family: str, base: str, adapter: str, name: str):
    # A fine-tune keeps its base's size, so choosing the base (which also picks family diffusion) sets it.
    # A proposed name follows the family; a name the artist typed stays.
    style_family = family == "style"
    shapes = training.fine_tuning_bases().get(base or "") if family == "diffusion" else None
    size = shapes["image_size"] if shapes else (128 if style_family else 32)
    families = "|".join(re.escape(n) for _, n in IMAGE_FAMILIES)
    proposed = not (name or "").strip() or re.fullmatch(rf"my-({families})(-\d+)?", name.strip())
    return (gr.update(visible=style_family), gr.update(value=size),
            gr.update(value=training.propose_name(family or "vae")) if proposed else gr.skip(),
            *_recipe_placeholders(_trained_family(family, base, adapter)))


def build(demo: gr.Blocks, tab: gr.Tab | None = None) -> None:
    first = IMAGE_FAMILIES[0][1]
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            family = gr.Dropdown(IMAGE_FAMILIES, value=first, label="Model family", elem_id="train-family")
            name = gr.Textbox(training.propose_name(first), label="Model name", elem_id="train-name",
                              info="letters, digits, '.', '_' and '-'")
            builtin = gr.Dropdown([NO_BUILTIN, *builtin_sets()], value=DEFAULT_BUILTIN,
                                  label="Training images: a built-in set", info="or upload your own below",
                                  elem_id="train-builtin")
            start = gr.Button("Start training", variant="primary", elem_id="train-start")
            files = gr.File(label="Your images (PNG, JPEG, WebP) or zips of them", file_count="multiple",
                            file_types=["image", ".zip"], height=110, elem_id="train-files")
            style_image = gr.Image(type="filepath", label="Style image (per-style networks: your uploads above "
                                   "are the content photos; none: the installed photos)", visible=False,
                                   elem_id="train-style-image")
            with gr.Row():
                image_size = gr.Dropdown([16, 32, 64, 96, 128, 160, 192, 256], value=32, label="Image size (px)",
                                         elem_id="train-size")
                color = gr.Checkbox(False, label="Colour (off: grey)", elem_id="train-color")
            with gr.Accordion("Training settings (empty: the family's defaults)", open=False):
                defaults = training.recipe_defaults(first)
                with gr.Row():
                    steps = gr.Textbox("", label="Steps", placeholder=f"empty: {defaults['steps']}, the default",
                                       elem_id="train-steps")
                    batch_size = gr.Textbox("", label="Batch size",
                                            placeholder=f"empty: {defaults['batch_size']}, the default",
                                            elem_id="train-batch")
                with gr.Row():
                    learning_rate = gr.Textbox("", label="Learning rate",
                                               placeholder=f"empty: {defaults['learning_rate']:g}, the default",
                                               elem_id="train-lr")
                    seed = gr.Number(0, precision=0, label="Seed", elem_id="train-seed")
                fit = gr.Radio(["crop", "pad"], value="crop", label="Fit to square")
                background = gr.Dropdown(list(BACKGROUNDS), value="white", label="Background for transparency")
                flip = gr.Checkbox(False, label="Random horizontal flips")
            with gr.Accordion("Fine-tune a base model (diffusion)", open=False):
                base_model = gr.Dropdown(["", *training.fine_tuning_bases()], value="", label="Base model",
                                         info="empty: train from scratch", elem_id="train-base-model")
                with gr.Row():
                    adapter = gr.Radio(["lora", "full"], value="lora", label="Adapter", elem_id="train-adapter",
                                       info="lora: a small adapter on the base; full: every weight")
                    rank = gr.Textbox("", label="LoRA rank", placeholder="empty: 8, the default",
                                      elem_id="train-rank")
            report = gr.Textbox(label="Data report", lines=3, interactive=False, elem_id="train-report")
        with gr.Column(scale=2, elem_id="train-outputs"):
            with gr.Row(equal_height=False):
                job = gr.Dropdown(_job_choices(), value=None, label="Job", allow_custom_value=True, scale=4,
                                  elem_id="train-job")
                with gr.Column(scale=1, min_width=120):
                    cancel = gr.Button("Cancel", variant="stop", size="sm", elem_id="train-cancel")
                    resume = gr.Button("Resume", size="sm", elem_id="train-resume")
                    delete = gr.Button("Delete job", size="sm", elem_id="train-delete")
                    refresh = gr.Button("Refresh list", size="sm", elem_id="train-refresh")
            summary = gr.Markdown("No job yet: start one, or pick one from the list.", elem_id="train-summary",
                                  elem_classes=["status-line"])
            chart = gr.HTML(loss_chart([]), elem_id="train-chart", label="Losses")
            with gr.Row(equal_height=False):
                sample = gr.Image(label="Latest samples (fixed seeds)", type="filepath", interactive=False,
                                  height=300, elem_id="train-sample", elem_classes=["pixelated", "fill-image"])
                with gr.Column():
                    table = gr.HTML(elem_id="train-table")
                    with gr.Accordion("Status as JSON", open=False):
                        status = gr.JSON(label="Status", elem_id="train-status")
    train_text.build(demo, job, report, status, _job_choices)  # text models: the same job view below

    family.change(_family_changed, [family, base_model, adapter, name],
                  [style_image, image_size, name, steps, batch_size, learning_rate],
                  api_visibility="private", queue=False)
    base_model.change(_match_base, [base_model, adapter, family], [family, image_size, color, steps, batch_size,
                                                           learning_rate], api_visibility="private", queue=False)
    adapter.change(lambda f, b, a: _recipe_placeholders(_trained_family(f, b, a)), [family, base_model, adapter],
                   [steps, batch_size, learning_rate], api_visibility="private", queue=False)
    files.upload(lambda: gr.update(value=NO_BUILTIN), None, builtin, api_visibility="private", queue=False)
    ui_event(start.click, _train_from_ui, [family, name, files, builtin, image_size, color, steps, batch_size,
                                            learning_rate, seed, fit, background, flip, style_image, base_model,
                                            adapter, rank],
             [job, report, name], concurrency_id=COMPUTE)
    watch = [status, chart, sample, table, summary]
    job.change(_poll, job, watch, api_visibility="private", queue=False)
    gr.Timer(2.0).tick(_poll, job, watch, api_visibility="private", queue=False)
    ui_event(cancel.click, _cancel_from_ui, job, watch, concurrency_limit=None, show_progress="hidden")
    ui_event(resume.click, _resume_from_ui, job, watch, concurrency_limit=None, show_progress="hidden")
    ui_event(delete.click, _delete_from_ui, job, [summary, job], concurrency_limit=None, show_progress="hidden")
    refresh.click(lambda: gr.update(choices=_job_choices()), None, job, api_visibility="private", queue=False)

    # Public endpoints for scripts; their triggers are hidden. /train reads plain inputs rather than the form's
    # dropdowns, so it takes every family (text ones too) and any image size the family allows. Their outputs
    # are hidden components too, so they keep the shapes scripts know (the losses as a table).
    with gr.Row(visible=False):
        api_job = gr.Textbox(label="job")
        api_status = gr.Button("job status")
        api_cancel = gr.Button("job cancel")
        api_resume = gr.Button("job resume")
        api_delete = gr.Button("job delete")
        api_deleted = gr.Markdown(label="message")
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
                      gr.Textbox(label="base_model"), gr.Textbox(label="adapter"),
                      gr.Number(None, precision=0, label="rank")]
        api_outputs = [gr.Textbox(label="job"), gr.Textbox(label="report"), gr.JSON(label="status")]
        api_watch = [gr.JSON(label="status"), gr.LinePlot(x="step", y="value", color="loss", label="losses"),
                     gr.Image(type="filepath", label="sample"), gr.Markdown(label="summary")]
        api_state = gr.JSON(label="status")
    api_train.click(train, api_inputs, api_outputs, api_name="train", concurrency_id=COMPUTE)
    api_status.click(job_status, api_job, api_watch, api_name="job_status", concurrency_limit=None)
    api_cancel.click(job_cancel, api_job, api_state, api_name="job_cancel", concurrency_limit=None)
    api_resume.click(job_resume, api_job, api_state, api_name="job_resume", concurrency_limit=None)
    api_delete.click(job_delete, api_job, api_deleted, api_name="job_delete", concurrency_limit=None)
    api_list.click(list_jobs, None, api_jobs_out, api_name="jobs", concurrency_limit=None)

    def attach():
        # Re-attach after a reload or restart: pick the newest running job, else the newest job.
        all_jobs = training.list_jobs()
        running = [j["job"] for j in all_jobs if j.get("state") in training.ACTIVE_STATES]
        current = running[0] if running else (all_jobs[0]["job"] if all_jobs else None)
        return gr.update(choices=_job_choices(), value=current)

    demo.load(attach, None, job, api_visibility="private", queue=False)
    if tab is not None:
        tab.select(lambda current: gr.update(choices=_job_choices(), value=current), job, job,
                   api_visibility="private", queue=False)
    # Bases trained or imported since the page opened appear when the tab is opened again.
    demo.load(lambda: gr.update(choices=["", *training.fine_tuning_bases()]), None, base_model,
              api_visibility="private", queue=False)
    if tab is not None:
        tab.select(lambda current: gr.update(choices=["", *training.fine_tuning_bases()], value=current),
                   base_model, base_model, api_visibility="private", queue=False)
