"""What every tab shares: error translation, the compute concurrency group, model choices."""
from __future__ import annotations

import functools
import inspect
import logging
import queue
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import gradio as gr

from ..core.errors import StudioError
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


def user_errors(fn):
    """Turn StudioError (and unexpected errors) into gr.Error, so the browser and gradio_client see a clear
    message and the app keeps serving. Works for plain functions and generators (streaming events)."""

    def translate(exc: Exception):
        if isinstance(exc, gr.Error):
            return exc
        if isinstance(exc, StudioError):
            return gr.Error(str(exc))
        log.exception("unexpected error in %s", fn.__name__)
        return gr.Error(f"something went wrong ({type(exc).__name__}: {exc}); the studio's log has the details")

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


def model_names(kind: str | None = None) -> list[str]:
    return [r["name"] for r in list_models(kind=kind)]


def model_choices(kind: str | None = None) -> list[tuple[str, str]]:
    """(label, name) pairs for a dropdown: the name with its family and where it comes from."""
    return [(f"{r['name']}  ({r['family']}, {'shipped' if r['source'] == 'shipped' else 'yours'})", r["name"])
            for r in list_models(kind=kind)]


def selected_value(evt: gr.SelectData):
    """The value of the item a user clicked (for a gallery: {"image": {"path": ...}, "caption": ...})."""
    return evt.value


def stream_work(work: Callable[[Callable[[str, Any], None], Callable[[], bool]], Any]) -> Iterator[tuple[str, Any]]:
    """Run `work(emit, cancelled)` in a worker thread and yield what it emits, then ("done", its result).

    Long events (style optimisation, GAN projection) run this way so that Stop really stops them: Gradio can
    only abandon a plain function, which would compute on unseen, but it closes a generator, and closing
    this one sets the flag `cancelled()` reads, so the work ends after its current step. `emit(kind, value)`
    passes progress or previews out; an exception in the work is raised here.
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
            kind, value = events.get()
            if kind == "error":
                raise value
            yield kind, value
            if kind == "done":
                return
    finally:
        stop.set()
