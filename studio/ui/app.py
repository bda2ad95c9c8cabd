"""Assemble the studio: one tab per module, the queue, and the launch options (theme, auth, upload limit)."""
from __future__ import annotations

import gradio as gr

from .. import __version__
from ..core.environment import environment
from . import compose_tab, gallery_tab, generate_tab, interpolate_tab, models_tab, style_tab, train_tab, write_tab
from .agents import agent_launch_options

CSS = """
#generate-gallery { min-height: 320px; }
/* Gallery: small model images shown large and crisp (the browser scales them, nearest-neighbour). */
#gallery-full img, #gallery-grid img, #gallery-nearest img { image-rendering: pixelated; }
#gallery-full img { width: 100%; height: 100%; object-fit: contain; }
"""


def build_demo() -> gr.Blocks:
    """The whole app as a `gr.Blocks`, queue configured; launch it with `launch_options()`."""
    s = environment()
    with gr.Blocks(title="Creative studio") as demo:
        gr.Markdown(f"# Creative studio\nTrain and use your own generative models. Version {__version__}.")
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Generate", id="generate", elem_id="tab-generate"):
                generate_gallery = generate_tab.build(demo)
            with gr.Tab("Interpolate", id="interpolate", elem_id="tab-interpolate"):
                interpolate_tab.build(demo, generate_gallery)
            with gr.Tab("Style", id="style", elem_id="tab-style"):
                style_tab.build(demo, generate_gallery)
            with gr.Tab("Write", id="write", elem_id="tab-write"):
                write_tab.build(demo)
            with gr.Tab("Compose", id="compose", elem_id="tab-compose"):
                compose_tab.build(demo)
            with gr.Tab("Train", id="train", elem_id="tab-train"):
                train_tab.build(demo)
            with gr.Tab("Models", id="models", elem_id="tab-models"):
                models_tab.build(demo)
            with gr.Tab("Gallery", id="gallery", elem_id="tab-gallery") as tab:
                gallery_tab.build(demo, tab)
    # Compute-heavy events share one group of STUDIO_CONCURRENCY slots; the queue refuses new events past
    # STUDIO_QUEUE_SIZE instead of letting them pile up.
    demo.queue(default_concurrency_limit=s.concurrency, max_size=s.queue_size)
    return demo


def launch_options() -> dict:
    """Keyword arguments for `demo.launch()` from the settings (Gradio 6 takes theme and css here)."""
    s = environment()
    # Samples and model cards are served straight from the model and job folders, outputs from the gallery.
    allowed = [str(p) for p in (s.checkpoints, s.models_dir, s.jobs_dir, s.gallery_dir)]
    return {"auth": s.auth, "max_file_size": f"{s.max_upload_mb}mb", "theme": gr.themes.Soft(), "css": CSS,
            "show_error": False, "allowed_paths": allowed,
            **agent_launch_options(s.auth)}  # footer "Use via API" link and the MCP server: ui/agents.py
