"""The creative studio: train and use your own generative models in the browser.

Layers, each importing only those below it:
1. core: `config`, `devices`, `registry`, `datasets`, `media`, `jobs`;
2. model families: `studio.families.*` (networks, training steps, sampling; no Gradio);
3. services: `studio.services.*` (plain functions the UI, the command line and scripts call);
4. ui: `studio.ui.*` (one module per tab; `build_demo()` assembles them).
"""
__version__ = "0.1.0"
