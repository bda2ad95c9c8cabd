"""The creative studio: `python app.py` serves it on http://127.0.0.1:7860 (Hugging Face Spaces runs this file)."""
from studio.ui.app import build_demo, launch_options

demo = build_demo()

if __name__ == "__main__":
    demo.launch(**launch_options())
