"""Fine-tuning on favourites: the artist's judgement flows back into the model. The function behind the
Gallery tab's "Fine-tune on favourites" button and `/train_on_favourites`.

A model's favourited gallery items (its images from Generate, or its texts from Write) are mixed with the
model's own training data (found again by `services.training_data`) so that a share `mix` of what the job
trains on is favourites, and an ordinary background job continues training the model from its weights
(`start_training(..., start_from=model)`) into a new model. The mix keeps it from collapsing onto a few
pictures; the new model's card records which gallery items it learned from.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..core.errors import StudioError, check_number
from ..core.images import open_image
from ..data.images import ImageData, to_model_image
from ..data.text import TextCorpus
from .gallery import favourite_items, gallery_item
from .models import model_record
from .training import check_new_model, start_training
from .training_data import training_images, training_text

DEFAULT_STEPS = 200
DEFAULT_MIX = 0.5
MAX_IMAGES = 50_000  # the mixed data set a job stores; originals are subsampled beyond it
# Which gallery items can teach which kind of model: images from Generate; texts from Write and tunes from
# Compose (an ABC model is a text model).
ITEM_KINDS = {"image": ("generate",), "text": ("write", "music")}


def _chosen_items(model: str, kinds: tuple[str, ...], items) -> list[dict]:
    """The favourites to learn from: all of `model`'s, or the listed ids, each checked."""
    if items:
        ids = [i.strip() for i in items.split(",")] if isinstance(items, str) else list(items)
        chosen = []
        for item_id in [i for i in ids if i]:
            record = gallery_item(item_id)
            if record["model"] != model:
                raise StudioError(f"gallery item {record['id']} was made by {record['model'] or 'no model'!r}, not "
                                  f"{model!r}; a model learns only from its own favourites")
            if record["kind"] not in kinds:
                raise StudioError(f"gallery item {record['id']} is a {record['kind']} item; {model!r} learns from "
                                  f"its {' and '.join(kinds)} items")
            if not record["favourite"]:
                raise StudioError(f"gallery item {record['id']} is not a favourite; mark it with /rate first")
            chosen.append(record)
    else:
        chosen = sorted((r for kind in kinds for r in favourite_items(model, kind)), key=lambda r: r["id"])
    if not chosen:
        raise StudioError(f"{model!r} has no favourites in the gallery yet: mark some of its "
                          f"{' or '.join(kinds)} outputs as favourites (Gallery tab, or /rate with favourite=true), "
                          "then fine-tune")
    return chosen


def _training_text(record: dict) -> str:
    """What a favourite text teaches: the text itself; for a tune, its ABC without the comment lines the
    studio adds (the AI notice and the parameters), which are not music."""
    text = record.get("text", "")
    if record["kind"] == "music":
        text = "\n".join(line for line in text.splitlines() if not line.startswith("%"))
    return text


def _favourite_images(records: list[dict], size: int, channels: int) -> torch.Tensor:
    arrays = []
    for record in records:
        path = next((p for p in record["files"] if Path(p).suffix.lower() == ".png"), None)
        if path is None:
            raise StudioError(f"gallery item {record['id']} has no PNG image")
        arrays.append(to_model_image(open_image(path), size, channels))
    return torch.from_numpy(np.stack(arrays))


def mixed_images(favourites: torch.Tensor, originals: torch.Tensor | None, mix: float,
                 batch_size: int) -> torch.Tensor:
    """One uint8 image set in which favourites make up about `mix` of the images (so of every shuffled batch):
    favourites repeated, originals kept (subsampled past MAX_IMAGES). With no originals (mix 1), the
    favourites repeated to at least a batch."""
    n_fav = favourites.shape[0]
    if originals is None or mix >= 1:
        return favourites.repeat(max(1, math.ceil(batch_size / n_fav)), 1, 1, 1)
    keep = originals
    want_fav = mix / (1 - mix) * keep.shape[0]
    if keep.shape[0] + want_fav > MAX_IMAGES:
        keep = keep[torch.randperm(keep.shape[0], generator=torch.Generator().manual_seed(0))
                    [:int(MAX_IMAGES * (1 - mix))]]
        want_fav = mix / (1 - mix) * keep.shape[0]
    copies = max(1, round(want_fav / n_fav))
    return torch.cat([keep, favourites.repeat(copies, 1, 1, 1)])


def train_on_favourites(model: str, name: str, steps: int | None = DEFAULT_STEPS, mix: float | None = DEFAULT_MIX,
                        items=None, learning_rate: float | None = None, start: bool = True) -> dict:
    """Continue training `model` on its favourites mixed with its training data, into a new model `name`.

    steps 1-100,000 (default 200); mix: the share of favourites in what it trains on, above 0 and at most 1
    (default 0.5; 1 trains on favourites alone, which soon makes the model repeat them); items: gallery ids
    (a list, or separated by commas) to learn from instead of all the model's favourites. Returns what
    `start_training` returns (the job id, a report, its status) and the gallery ids used."""
    record = model_record(model)
    kind = record.meta.get("kind", "image")
    if kind not in ITEM_KINDS:
        raise StudioError(f"{model!r} is a {record.family} model; fine-tuning on favourites works for image and "
                          "text models")
    check_new_model(name)
    steps = check_number("steps", DEFAULT_STEPS if steps in (None, "") else steps, 1, 100_000, whole=True)
    mix = check_number("mix", DEFAULT_MIX if mix in (None, "") else mix, 0, 1)
    if mix <= 0:
        raise StudioError("mix must be above 0 (the share of favourites in training) and at most 1")
    chosen = _chosen_items(model, ITEM_KINDS[kind], items)
    ids = [r["id"] for r in chosen]
    dataset = record.meta.get("dataset") or {}
    notes = {"fine_tuned_from": model, "gallery_items": ids, "favourites": len(ids), "mix": mix}
    command = (f"python -c \"from studio.services.favourites import train_on_favourites; train_on_favourites("
               f"{model!r}, {name!r}, steps={steps}, mix={mix}, items={ids!r})\"")
    if kind == "image":
        shapes = record.meta.get("shapes", {})
        size, channels = int(shapes.get("image_size", 32)), int(shapes.get("channels", 3))
        favourites = _favourite_images(chosen, size, channels)
        originals, where = (None, "none (mix 1)") if mix >= 1 else training_images(model)
        batch = int((record.meta.get("recipe") or {}).get("batch_size", 64))
        images = mixed_images(favourites, originals, mix, batch)
        notes["original_data"] = where
        count = 0 if originals is None else originals.shape[0]
        used = [f"favourite {i}" for i in ids] + [f"training image {i}" for i in range(count)]
        data = ImageData(images, used=used,
                         source=f"{len(ids)} favourites of {model} from the gallery, mixed with its training "
                                f"data ({where}) at {mix:.0%} favourites",
                         license=str(dataset.get("license", "unknown")),
                         facts={"name": f"favourites of {model}", "notes": "gallery items: " + ", ".join(ids)})
    else:
        texts = [_training_text(r) for r in chosen]
        block = "\n\n".join(t for t in texts if t.strip())
        if not block:
            raise StudioError("the favourite texts are empty")
        text_format = str(dataset.get("format", "text"))  # "abc": the new model still composes
        if mix >= 1:
            documents, validation, where = [block] * max(1, math.ceil(20_000 / len(block))), None, "none (mix 1)"
        else:
            original, where = training_text(model)
            text_format = original.format
            training_part = "\n\n".join(original.documents) if original.validation else original.text
            copies = max(1, round(mix / (1 - mix) * len(training_part) / len(block)))
            # Favourites first: without held-out documents the validation split is the text's tail, so it
            # stays the model's own data either way.
            documents, validation = [block] * copies + original.documents, original.validation
        notes["original_data"] = where
        data = TextCorpus(documents, source=f"{len(ids)} favourite texts of {model} from the gallery, mixed with "
                                            f"its training text ({where}) at about {mix:.0%}",
                          license=str(dataset.get("license", "unknown")), used=ids, validation=validation,
                          format=text_format)
        data.name = f"favourites of {model}"  # read by the training service as the data set's name
    result = start_training(record.family, name, data=data, start_from=model, steps=steps,
                            learning_rate=learning_rate, notes=notes, command=command, start=start)
    return {**result, "gallery_items": ids}
