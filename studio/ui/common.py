"""What every tab shares: error translation, the compute concurrency group, model choices."""
from __future__ import annotations

import functools
import inspect
import logging

import gradio as gr

from ..errors import StudioError
from ..registry import default_registry

log = logging.getLogger("studio.ui")

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
    return [r.name for r in default_registry().list(kind=kind)]


def model_choices(kind: str | None = None) -> list[tuple[str, str]]:
    """(label, name) pairs for a dropdown: the name with its family and where it comes from."""
    return [(f"{r.name}  ({r.family}, {'shipped' if r.shipped else 'yours'})", r.name)
            for r in default_registry().list(kind=kind)]


def selected_value(evt: gr.SelectData):
    """The value of the item a user clicked (for a gallery: {"image": {"path": ...}, "caption": ...})."""
    return evt.value
