"""The creative studio: train and use your own generative models in the browser.

Floors, each importing only those below it (the README's "Architecture" section says what lives where):
1. `core`: environment, errors, devices, seeds, image decoding, media out, the model store, jobs;
2. `data` (training data in), `vision` (pretrained feature networks, metrics), `style` (style transfer's
   shared parts);
3. `families`: one module per kind of model (network, training step, sampling, encoding; no Gradio);
4. `latent`: walks through an image family's latent space;
5. `services`: plain functions the UI, the command line and scripts call;
6. `ui`: one module per tab; `build_demo()` assembles them.
Entry points: `app.py`, `python -m studio` (the CLI) and `python -m studio.train` (the training worker).
"""
__version__ = "0.1.0"
