"""Hugging Face model cards (README.md with YAML front-matter) written from a model's studio.json."""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..families import get_family

# Hub licence ids for the data licences the studio's built-in sets carry; anything else is "other".
_LICENSE_IDS = [("bsd-3", "bsd-3-clause"), ("cc-by-4.0", "cc-by-4.0"), ("cc0", "cc0-1.0"),
                ("public domain", "cc0-1.0"), ("apache-2.0", "apache-2.0"), ("mit", "mit"), ("gpl-3", "gpl-3.0")]
_LICENCE_WORDS = ("licen", "cc-", "cc0", "bsd", "mit", "gpl", "apache", "public domain")


def license_id(data_license: str) -> str:
    """The Hub licence id for a data licence statement: one known licence gives its id; a mix of licences
    (say CC-BY-2.0 photos with CC0 images) or an unknown one gives "other", never the most permissive."""
    parts = re.split(r"[;,/+]| and ", (data_license or "").lower())
    named = [p for p in parts if any(w in p for w in _LICENCE_WORDS)]
    ids = {next((hub for key, hub in _LICENSE_IDS if key in p), "other") for p in named}
    return ids.pop() if len(ids) == 1 else "other"


def _yaml_list(items: list[str]) -> str:
    return "\n".join(f"  - {json.dumps(i)}" for i in items)


def render_model_card(meta: dict) -> str:
    """The README.md text for a model. Front-matter keys follow the Hub's model card metadata spec."""
    family = get_family(meta["family"])
    dataset = meta.get("dataset", {})
    licence = license_id(str(dataset.get("license", "")))
    tags = ["studio", family.name, "ai-generated-content-tool"]
    front = [
        "---",
        f"license: {licence}",
        f"library_name: {family.library_name}",
        f"pipeline_tag: {family.pipeline_tag}",
        "tags:",
        _yaml_list(tags),
        "---",
    ]
    name = meta.get("name", "model")
    shapes = meta.get("shapes", {})
    lines = [
        f"# {name}",
        "",
        f"{'An' if family.title[:1] in 'AEIOU' else 'A'} {family.title} trained with the creative studio "
        f"(studio {meta.get('studio_version', '?')}, format {meta.get('format_version', '?')}).",
        "",
    ]
    if shapes:
        lines += ["## Shapes", "", *[f"- {k}: {v}" for k, v in shapes.items()], ""]
    if dataset:
        lines += ["## Training data", ""]
        for key in ("name", "source", "count", "skipped", "characters", "train_tokens", "val_tokens", "license",
                    "attribution", "notes"):
            if key in dataset:
                lines.append(f"- {key}: {dataset[key]}")
        lines.append("")
    recipe = meta.get("recipe", {})
    if recipe:
        lines += ["## Training recipe", "", "| setting | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in recipe.items()]
        lines.append("")
    training = meta.get("training", {})
    if training:
        lines += ["## Training run", ""]
        lines += [f"- {k}: {v}" for k, v in training.items() if k != "command"]
        if training.get("command"):
            lines += ["", "Reproduce with:", "", "```bash", str(training["command"]), "```"]
        lines.append("")
    metrics = meta.get("metrics", {})
    if metrics:
        lines += ["## Measured", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in metrics.items()]
        lines.append("")
    usage = getattr(family, "usage_lines", None)  # families used outside Generate and Write (style) say how
    if usage:
        lines += usage(name)
        lines += ["Images made with this model are AI-generated; the studio writes that into every PNG it saves.", ""]
    elif family.kind == "text":
        lines += [
            "## Use",
            "",
            "Open the studio, choose this model in the Write tab, or from a script:",
            "",
            "```python",
            "from gradio_client import Client",
            'client = Client("http://127.0.0.1:7860/")',
            f'text = client.predict(model="{name}", prompt="The sea", max_new_tokens=200, seed=0, api_name="/write")',
            "```",
            "",
            "It loads with transformers too: `AutoModelForCausalLM.from_pretrained(folder)` and "
            "`AutoTokenizer.from_pretrained(folder)`. `samples.txt` holds texts it wrote at the end of training "
            "(seeds 0-3, temperature 0.8, top-p 0.95).",
            "",
            "Text written with this model is AI-generated.",
            "",
        ]
    else:
        lines += [
            "## Use",
            "",
            "Open the studio, choose this model in the Generate tab, or from a script:",
            "",
            "```python",
            "from gradio_client import Client",
            'client = Client("http://127.0.0.1:7860/")',
            f'gallery, grid, zip_path, parameters = client.predict(model="{name}", count=4, seed=0,',
            '                                                       api_name="/generate")',
            "```",
            "",
            "Images made with this model are AI-generated; the studio writes that into every PNG it saves.",
            "",
        ]
    return "\n".join(front) + "\n\n" + "\n".join(lines)


def write_model_card(folder: Path, meta: dict) -> None:
    (folder / "README.md").write_text(render_model_card(meta), encoding="utf-8")
