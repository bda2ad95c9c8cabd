"""Assemble the studio: one tab per module, the queue, and the launch options (theme, auth, upload limit)."""
from __future__ import annotations

import logging

import gradio as gr

from .. import __version__
from ..core.environment import environment
from ..services.housekeeping import clean_at_startup
from . import (charts, compose_tab, gallery_tab, generate_tab, interpolate_tab, models_tab, style_tab, train_tab,
               write_tab)
from .agents import agent_launch_options
from .common import check_number_inputs
from .login import LoginThrottle

CSS = """
/* A compact header, so each tab's main button is in view at 1400x900. */
#studio-header { margin: 0; padding: 0; }
#studio-header h1 { font-size: 1.4rem; margin: 0; display: inline; }
#studio-header p { display: inline; margin: 0 0 0 1em; color: var(--body-text-color-subdued); }
/* Small models make small images: show them big and crisp. The browser scales them up with
   nearest-neighbour sampling; the PNGs served for download are the originals. */
.pixelated img { image-rendering: pixelated; }
.fill-image img { width: 100%; height: 100%; object-fit: contain; }
/* A gallery of many columns: Gradio gives each column at least 100 px, which clips the last ones in a
   narrow column of the page; let them shrink to fit instead. */
.fit-columns .grid-container { grid-template-columns: repeat(var(--grid-cols), minmax(0, 1fr)) !important; }
.status-line { min-height: 1.6em; }
.status-line p { margin: 0; }
table.kv { border-collapse: collapse; width: 100%; font-size: 0.9em; margin: 0; }
table.kv, table.kv tr, table.kv th, table.kv td { border: none !important; background: none !important; }
table.kv tr + tr { border-top: 1px solid var(--border-color-primary) !important; }
table.kv th { width: 1%; text-align: left; font-weight: 600; padding: 3px 16px 3px 0; white-space: nowrap; vertical-align: top;
              color: var(--body-text-color-subdued); }
table.kv td { padding: 3px 0; word-break: break-word; }
/* The rating row under each tab's output: stars and the favourite mark side by side. */
.rating-row { align-items: center; }
/* Six compact star choices that fit one line even in Write's narrower column: the chosen one is shown by its
   colour, so the radio dot is hidden (visually only: the keyboard still reaches it). */
.rating-row fieldset .wrap { gap: 4px; }
.rating-row fieldset .wrap label { padding: 4px 8px; white-space: nowrap; position: relative; }
.rating-row fieldset .wrap label input[type=radio] { position: absolute; opacity: 0; width: 1px; height: 1px; }
"""


def build_demo() -> gr.Blocks:
    """The whole app as a `gr.Blocks`, queue configured; launch it with `launch_options()`."""
    s = environment()
    _log_to_stderr()
    clean_at_startup()
    with gr.Blocks(title="Creative studio") as demo:
        gr.Markdown(f"# Creative studio\nTrain and use your own generative models. Version {__version__}.",
                    elem_id="studio-header")
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Generate", id="generate", elem_id="tab-generate") as tab:
                generate_gallery = generate_tab.build(demo, tab)
            with gr.Tab("Interpolate", id="interpolate", elem_id="tab-interpolate") as tab:
                interpolate_tab.build(demo, generate_gallery, tab)
            with gr.Tab("Style", id="style", elem_id="tab-style") as tab:
                style_tab.build(demo, generate_gallery, tab)
            with gr.Tab("Write", id="write", elem_id="tab-write") as tab:
                write_tab.build(demo, tab)
            with gr.Tab("Compose", id="compose", elem_id="tab-compose") as tab:
                compose_tab.build(demo, tab)
            with gr.Tab("Train", id="train", elem_id="tab-train") as tab:
                train_tab.build(demo, tab)
            with gr.Tab("Models", id="models", elem_id="tab-models") as tab:
                models_tab.build(demo, tab)
            with gr.Tab("Gallery", id="gallery", elem_id="tab-gallery") as tab:
                gallery_tab.build(demo, tab)
    protect(demo)
    # Compute-heavy events share one group of STUDIO_CONCURRENCY slots; the queue refuses new events past
    # STUDIO_QUEUE_SIZE instead of letting them pile up.
    demo.queue(default_concurrency_limit=s.concurrency, max_size=s.queue_size)
    return demo


def launch_options() -> dict:
    """Keyword arguments for `demo.launch()` from the settings (Gradio 6 takes theme and css here)."""
    s = environment()
    # Samples and model cards are served straight from the model and job folders, kept outputs from the
    # gallery (its files are the studio's own copies, never swept with the request outputs).
    allowed = [str(p) for p in (s.checkpoints, s.models_dir, s.jobs_dir, s.gallery_dir)]
    return {"auth": s.auth, "max_file_size": f"{s.max_upload_mb}mb", "theme": gr.themes.Soft(),
            "css": CSS + charts.CSS, "show_error": False, "allowed_paths": allowed,
            **agent_launch_options(s.auth),  # footer "Use via API" link and the MCP server: ui/agents.py
            **protection_options()}  # login throttling: the protection section below


# -- protection: typed inputs, output clean-up, login throttling ---------------------------------------------
def protect(demo: gr.Blocks) -> None:
    """What protects a served studio, on the Blocks (kept apart from the rest of the assembly):

    - number fields and sliders refuse text, fractions in whole-number fields and values out of range with
      a message naming the field, before Gradio would round or fail generically (`check_number_inputs`);
    - Gradio deletes the files it served and the uploads it received once they are STUDIO_OUTPUT_MINUTES
      old (`delete_cache`, checked every 10 minutes at most); the studio writes its outputs inside Gradio's
      upload folder and removes its own folders on the same schedule (`studio.core.outputs`).
    """
    check_number_inputs(demo)
    age = environment().output_minutes * 60
    demo.delete_cache = (min(600, age), age)


def protection_options() -> dict:
    """The launch options that protect a served studio: failed logins throttled per client
    (`studio.ui.login`), through FastAPI middleware given to Gradio's app."""
    from starlette.middleware import Middleware

    s = environment()
    return {"app_kwargs": {"middleware": [Middleware(LoginThrottle, attempts=s.login_attempts,
                                                     trust_proxy=s.trust_proxy)]}}


def _log_to_stderr() -> None:
    # The studio's own log lines (refusals, failed logins, start-up clean-up): one line each, on stderr.
    logger = logging.getLogger("studio")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
