"""What every tab shares: error translation, number fields that refuse what is not a number, the compute
concurrency group, model choices, and the row that rates what a tab made."""
from __future__ import annotations

import functools
import inspect
import logging
import math
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import gradio as gr

from ..core.errors import StudioError, check_number, public_message
from ..services import gallery as gallery_service
from ..services.models import list_models

log = logging.getLogger("studio.ui")

def file_path(value) -> str | None:
    """The path of one uploaded file as Gradio hands it over (a path, or an object with `.name`/`.path`)."""
    if value is None or value == "":
        return None
    if isinstance(value, (str, Path)):
        return str(value)
    return str(getattr(value, "path", None) or getattr(value, "name", None) or value)


def file_paths(values) -> list[str]:
    """Paths of uploaded files: one upload or a list of them; empty entries dropped."""
    items = values if isinstance(values, (list, tuple)) else [values]
    return [p for p in (file_path(v) for v in items) if p]


def optional(value):
    """An empty form field (None or "") as None, so the service uses its default."""
    return None if value in (None, "") else value


# Compute-heavy events (sampling, stylising, preparing training data) share one concurrency group whose size
# is STUDIO_CONCURRENCY; light events (listings, job status) run beside them without waiting.
COMPUTE = "compute"
TICK_SECONDS = 0.5  # the longest a Stop waits for a quiet worker's generator to be closable
PROGRESS_SECONDS = 0.25  # progress reaches the page at most this often (a diffusion batch makes thousands)


def message_of(exc: Exception, where: str = "") -> str:
    """The words a person sees for an exception: a StudioError's or gr.Error's own message (a refusal, logged
    as one line); anything else is a bug, logged once with its traceback and named briefly. No message names
    a server path (`public_message`)."""
    if isinstance(exc, gr.Error):
        return str(exc.message)
    if isinstance(exc, StudioError):
        message = public_message(exc)
        log.info("refused %s: %s", where or "an event", message)
        return message
    log.exception("unexpected error in %s", where or "an event")
    return f"something went wrong ({type(exc).__name__}: {public_message(exc)}); the studio's log has the details"


def user_errors(fn):
    """Turn StudioError (and unexpected errors) into gr.Error, so gradio_client sees a clear message and the
    app keeps serving; in the page the message stays until dismissed. Works for plain functions and
    generators (streaming events). Events of the page itself use `ui_event`, which also keeps outputs.

    A refused request is the user's to fix: it is logged as one line, and Gradio is told not to print its
    traceback. An unexpected error is a bug: its traceback is logged once. No message names a server path."""

    def translate(exc: Exception) -> gr.Error:
        if isinstance(exc, gr.Error):
            return exc
        return gr.Error(message_of(exc, fn.__name__), duration=None, print_exception=False)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                raise translate(exc) from exc
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise translate(exc) from exc
    return wrapper


def _report_failure(message):
    if message:
        raise gr.Error(message, duration=None, print_exception=False)


def ui_event(trigger, fn, inputs, outputs, **kwargs):
    """Wire `fn` to a page event (`trigger` is e.g. `button.click`) so that a refusal is a message that stays
    until dismissed, and nothing else changes: the event itself always succeeds (its outputs keep what they
    showed; Gradio would cover every output of a failed event with a red "Error" badge), and a follow-up
    event with no outputs raises the message as gr.Error. Returns the main event (for `cancels`).

    `fn` may be a plain function or a generator; its return values are those of `outputs`, as usual."""
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else ([outputs] if outputs is not None else [])
    failure = gr.State(None)
    n = len(outputs)

    def extend(value):
        if n == 1:
            return value, None
        if isinstance(value, dict) and value == gr.skip():
            value = [gr.skip()] * n
        return (*value, None)

    def failed(exc):
        return (*([gr.skip()] * n), message_of(exc, getattr(fn, "__name__", "")))

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            try:
                for value in fn(*args, **kwargs):
                    yield extend(value)
            except Exception as exc:
                yield failed(exc)
    else:
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            try:
                return extend(fn(*args, **kwargs))
            except Exception as exc:
                return failed(exc)

    kwargs.setdefault("api_visibility", "private")
    event = trigger(wrapped, inputs, [*outputs, failure], **kwargs)
    # Queued, so its error reaches the page with its duration (a non-queued error loses it, and its toast)
    event.then(_report_failure, failure, None, api_visibility="private", show_progress="hidden",
               concurrency_limit=None)
    return event


def number_or_default(value):
    """A number box of the page left empty (or blank) as None, so the service uses its default; anything
    else is passed on for the service to check and, if need be, refuse by the field's name."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value.strip() if isinstance(value, str) else value


def on_stop(button: gr.Button, event, status: gr.components.Component) -> None:
    """Wire a Stop button: cancel `event` (which closes its generator, so the work ends after its current
    step), then say in the status line that it stopped. The note comes after the cancel has settled, so no
    late progress update of the stopped event can overwrite it."""
    button.click(None, cancels=[event], api_visibility="private").then(
        stopped_note, status, status, api_visibility="private", queue=False)


def stopped_note(status: str | None) -> str:
    """What a Stop button writes into its tab's status line: what was running, now stopped."""
    text = (status or "").strip()
    for prefix in ("**Working**: ", "Working: "):
        text = text.removeprefix(prefix)
    return f"**Stopped**{': ' + text if text else ''}. What was finished before Stop is kept."


def check_number_inputs(demo: gr.Blocks) -> None:
    """Make every number field and slider that feeds an event refuse, with a message naming the field, what
    Gradio itself would mishandle: text ("abc"), true/false, a fraction in a whole-number field (Gradio 6
    rounds 2.5 to 2 when precision=0 and lets a slider with step 1 pass 2.5), and values past the field's
    range. Gradio's own checks raise before the event's function runs, with a generic message for text, so
    this replaces the field's `preprocess`; the services check the same values again for scripts and the CLI.

    A field is named by the event parameter it feeds (what gradio_client and the API page call it), with its
    label where that differs. Call once, after the tabs are built."""
    from gradio.utils import get_function_params

    for block_fn in demo.fns.values():
        if block_fn.fn is None:
            continue
        params = [p[0] for p in get_function_params(block_fn.fn)]
        for component, param in zip(block_fn.inputs, params):
            if isinstance(component, (gr.Number, gr.Slider)) and not getattr(component, "_studio_checked", False):
                _check_number_field(component, param)


def _check_number_field(component, param: str) -> None:
    label = component.label
    field = param if not label or str(label).lower() == param.lower() else f"{label} ({param})"
    low = -math.inf if component.minimum is None else component.minimum
    high = math.inf if component.maximum is None else component.maximum
    if isinstance(component, gr.Slider):
        step = component.step or 0
        whole = component.precision == 0 or (float(step).is_integer() and step > 0 and float(low).is_integer())
    else:
        whole = component.precision == 0
    gradio_preprocess = component.preprocess

    def preprocess(payload):
        if payload is None or (isinstance(payload, str) and not payload.strip()):
            return gradio_preprocess(None) if isinstance(component, gr.Number) else None
        try:
            if isinstance(payload, (int, float, str)) and not isinstance(payload, bool):
                try:
                    finite = math.isfinite(float(payload))
                except (ValueError, OverflowError):
                    finite = True  # not a number at all: check_number says so
                if not finite:
                    raise StudioError(f"{field} must be a finite number; got {payload!r}")
            value = check_number(field, payload, low, high, whole=whole)
        except StudioError as exc:
            log.info("refused a value for %s: %s", field, exc)
            raise gr.Error(str(exc), duration=None, print_exception=False) from None
        return gradio_preprocess(value)

    component.preprocess = preprocess
    component._studio_checked = True


def model_names(kind: str | None = None) -> list[str]:
    return [r["name"] for r in list_models(kind=kind)]


def model_choices(kind: str | None = None) -> list[tuple[str, str]]:
    """(label, name) pairs for a dropdown: the name with its family and where it comes from."""
    return [(f"{r['name']}  ({r['family']}, {'shipped' if r['source'] == 'shipped' else 'yours'})", r["name"])
            for r in list_models(kind=kind)]


def selected_value(evt: gr.SelectData):
    """The value of the item a user clicked (for a gallery: {"image": {"path": ...}, "caption": ...})."""
    return evt.value


def throttled(report: Callable[..., None], seconds: float = PROGRESS_SECONDS) -> Callable[..., None]:
    """`report` called at most once every `seconds` (later calls in between are dropped): progress from every
    denoising step of every image would otherwise flood the page with updates it must re-render."""
    last = [float("-inf")]

    def call(*args) -> None:
        now = time.monotonic()
        if now - last[0] >= seconds:
            last[0] = now
            report(*args)
    return call


def stream_work(work: Callable[[Callable[[str, Any], None], Callable[[], bool]], Any]) -> Iterator[tuple[str, Any]]:
    """Run `work(emit, cancelled)` in a worker thread and yield what it emits, then ("done", its result).

    Long events (sampling, style optimisation, GAN projection) run this way so that Stop really stops them:
    Gradio can only abandon a plain function, which would compute on unseen, but it closes a generator, and
    closing this one sets the flag `cancelled()` reads, so the work ends after its current step. Gradio can
    close a generator only between two of its values, so a ("tick", None) comes at least every
    `TICK_SECONDS` while the work is quiet; callers yield `gr.skip()` for it. `emit(kind, value)` passes
    progress or previews out; an exception in the work is raised here.
    """
    events: queue.Queue = queue.Queue()
    stop = threading.Event()

    def target():
        try:
            events.put(("done", work(lambda kind, value: events.put((kind, value)), stop.is_set)))
        except Exception as exc:  # handed to the consumer, which raises it in the event
            events.put(("error", exc))

    threading.Thread(target=target, daemon=True, name="studio-work").start()
    try:
        while True:
            try:
                kind, value = events.get(timeout=TICK_SECONDS)
            except queue.Empty:
                kind, value = "tick", None
            if kind == "error":
                raise value
            yield kind, value
            if kind == "done":
                return
    finally:
        stop.set()


# -- rating what a tab made ---------------------------------------------------------------------------------
STARS = [("unrated", 0), ("★", 1), ("★★", 2), ("★★★", 3), ("★★★★", 4), ("★★★★★", 5)]
NOTHING_TO_RATE = "Rate what you make here: stars and favourites are kept in the Gallery."


@dataclass
class RatingRow:
    """The row under a tab's output that rates what it made, into the same gallery store as the Gallery tab
    and `/rate`: which item (one choice per image or text of a batch), 0-5 stars and the favourite mark,
    saved as soon as they are clicked. Tabs put `outputs` among an event's outputs and fill them with
    `rating_updates` when a result (or part of one) is shown."""
    ids: gr.State          # the gallery ids of what the tab shows now, in its order (None: not kept)
    item: gr.Dropdown      # the item being rated
    stars: gr.Radio
    favourite: gr.Checkbox
    note: gr.Markdown

    @property
    def outputs(self) -> list:
        return [self.ids, self.item, self.stars, self.favourite, self.note]


def rating_row(prefix: str) -> RatingRow:
    """Build the rating row (elem_ids `<prefix>-rate-item`, `-stars`, `-favourite`, `-rating-note`) and wire
    it: choosing an item shows its rating; a click on the stars or the favourite mark saves both."""
    with gr.Row(equal_height=True, elem_classes=["rating-row"], elem_id=f"{prefix}-rating"):
        item = gr.Dropdown([], value=None, label="Rate", scale=1, min_width=150, elem_id=f"{prefix}-rate-item")
        stars = gr.Radio(STARS, value=0, label="Stars", scale=4, elem_id=f"{prefix}-stars")
        favourite = gr.Checkbox(False, label="Favourite", scale=1, min_width=100, elem_id=f"{prefix}-favourite")
    note = gr.Markdown(NOTHING_TO_RATE, elem_id=f"{prefix}-rating-note", elem_classes=["status-line"])
    row = RatingRow(gr.State([]), item, stars, favourite, note)
    # Light events: they never wait behind a running batch (the compute group), so rating goes on while the
    # rest of a batch is made.
    ui_event(item.input, shown_rating, item, [stars, favourite, note], concurrency_limit=None,
             show_progress="hidden")
    for control in (stars, favourite):
        ui_event(control.input, save_rating, [item, stars, favourite], note, concurrency_limit=None,
                 show_progress="hidden")
    return row


def rating_updates(labelled: list[tuple[str, str | None]], first: bool = True) -> tuple:
    """Values for `RatingRow.outputs` once a tab shows `labelled` = [(label, gallery id or None), ...]: the
    kept items become the choices; `first` (a new result) chooses the first and shows it unrated, otherwise
    (more of the same batch) only the choices grow and the artist's choice and clicks stay."""
    kept = [(label, item) for label, item in labelled if item]
    ids = [item for _, item in labelled]
    if not first:
        return ids, gr.update(choices=kept), gr.skip(), gr.skip(), gr.skip()
    if not kept:
        note = "Not kept in the Gallery (it could not be written; the log says why)." if labelled else \
            NOTHING_TO_RATE
        return ids, gr.update(choices=[], value=None), 0, False, note
    many = f" (choose which of the {len(kept)})" if len(kept) > 1 else ""
    return ids, gr.update(choices=kept, value=kept[0][1]), 0, False, f"Kept in the Gallery: rate it here{many}."


def _rating_text(record: dict) -> str:
    stars = "★" * record["rating"] if record["rating"] else "unrated"
    seed = f", seed {record['seed']}" if record.get("seed") is not None else ""
    return f"{record['kind']} item {record['id']}{seed}: {stars}{', favourite ♥' if record['favourite'] else ''}"


def shown_rating(item):
    """The stars, favourite mark and note of a chosen gallery item."""
    if not item:
        return 0, False, NOTHING_TO_RATE
    record = gallery_service.gallery_item(item)
    return record["rating"], record["favourite"], _rating_text(record)


def save_rating(item, stars, favourite) -> str:
    """Save a rating from a tab's rating row into the gallery; the note says what is kept now."""
    if not item:
        raise StudioError("make something first: the rating applies to this tab's output")
    record = gallery_service.rate(item, stars, bool(favourite))
    return f"Saved: {_rating_text(record)}"


def pick_rated(ids: list, evt: gr.SelectData):
    """A click on an image of a tab's result gallery chooses that image in the rating row."""
    index = evt.index if isinstance(evt.index, int) else evt.index[0]
    item = ids[index] if isinstance(ids, list) and 0 <= index < len(ids) else None
    if not item:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return (item, *shown_rating(item))
