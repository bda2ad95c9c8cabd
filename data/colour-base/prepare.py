"""Prepare the colour base set: several thousand colour images from offline packages, for a 64 px base model
that artists' few images then fine-tune, and one category kept out of it for a fair fine-tuning test.

    python data/colour-base/prepare.py    # writes data/colour-base/raw/{base,base-val,food-train,food-test}/
    python -m studio train --family diffusion --name colour-base-diffusion \\
        --images data/colour-base/raw/base --size 64 --color ...

Sources (each a group in dataset.json, with its licence):
    twemoji      every Twemoji image (emoji-datasource-twitter@16.0.0, npm; CC-BY-4.0) but Food & Drink
    openclipart  Debian openclipart-png (public domain), without the near-identical shapes/stars and
                 without its food folder (kept out with the held-out category)
    gimp         Debian gimp-data patterns (GPL-3+): the 58 .pat tiles, tiled and cut into squares
    mypaint      Debian mypaint-data-extras backgrounds (CC0-1.0): paper, canvas, watercolour, cut into squares

A seeded 3% of each group (base-val/) is kept out of the base set too, to measure the base model on images
of its own kind that it has not seen.

The held-out category is Twemoji's Food & Drink (131 images): neither it nor Open Clip Art's food pictures are
in the base set, so fine-tuning on it tests how a base model helps with a subject it has not seen. A seeded
permutation splits it into an artist's images (food-train, 65) and test images (food-test, 66), used by
benchmarks/finetune.py and by the shipped LoRA fine-tune's card.

Every image is written as a square RGBA PNG at --size px (clip art padded with transparency, textures cut
square), so the trainer reads the folder as it is; the trainer flattens alpha on its background (white by
default). Needs: npm (for the Twemoji tarball, fetched once into data/twemoji/raw/) and the Debian packages
(`apt-get install openclipart-png gimp-data mypaint-data-extras`); a missing package is reported and its
group skipped.
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import struct
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
RAW = HERE / "raw"


def _twemoji_module():
    """data/twemoji/prepare.py (the Twemoji tarball's fetcher and facts), loaded from its file."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("twemoji_prepare", HERE.parent / "twemoji" / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


twemoji = _twemoji_module()

HELD_OUT = "Food & Drink"
OPENCLIPART = Path("/usr/share/openclipart/png")
OPENCLIPART_LEFT_OUT = ("shapes/stars", "food")  # near-duplicates; the held-out subject
GIMP_PATTERNS = Path("/usr/share/gimp/2.0/patterns")
MYPAINT = Path("/usr/share/mypaint/backgrounds")
CROPS_PER_TEXTURE = {"gimp": 4, "mypaint": 8}
VALIDATION_SHARE = 0.03
Image.MAX_IMAGE_PIXELS = 64_000_000  # the largest Open Clip Art PNGs are about 20 M pixels

GROUPS = {
    "twemoji": {"source": twemoji.FACTS["source"], "license": "CC-BY-4.0", "attribution": twemoji.FACTS["attribution"]},
    "openclipart": {"source": f"Debian package openclipart-png, {OPENCLIPART}", "license": "public domain",
                    "attribution": "Open Clip Art Library contributors (openclipart.org); each image's author is in "
                                   "the package's .txt files"},
    "gimp": {"source": f"Debian package gimp-data, {GIMP_PATTERNS}/*/*.pat", "license": "GPL-3+",
             "attribution": "GIMP pattern tiles, the GIMP authors"},
    "mypaint": {"source": f"Debian package mypaint-data-extras, {MYPAINT}", "license": "CC0-1.0",
                "attribution": "MyPaint backgrounds by Ramon Miranda and MrMamurk"},
}


def square_rgba(im: Image.Image, size: int) -> Image.Image:
    """Pad to a square with transparency (keeping the whole picture), then resize."""
    im = im.convert("RGBA")
    side = max(im.size)
    canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    canvas.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
    return canvas.resize((size, size), Image.Resampling.LANCZOS)


def texture_crops(im: Image.Image, size: int, count: int, rng: np.random.Generator) -> list[Image.Image]:
    """`count` squares from a (tileable) texture at random positions and scales: the texture is tiled 2x2
    first so that small tiles still give squares of their full width."""
    im = im.convert("RGB")
    tiled = Image.new("RGB", (im.width * 2, im.height * 2))
    for dx in (0, im.width):
        for dy in (0, im.height):
            tiled.paste(im, (dx, dy))
    out = []
    for _ in range(count):
        side = int(rng.uniform(0.35, 1.0) * min(im.size))
        side = max(side, min(size, min(im.size)))
        x, y = (int(rng.integers(0, max(1, dim - side + 1))) for dim in im.size)
        out.append(tiled.crop((x, y, x + side, y + side)).resize((size, size), Image.Resampling.LANCZOS))
    return out


def read_pat(path: Path) -> Image.Image:
    """A GIMP .pat pattern: a big-endian header (header size, version, width, height, bytes per pixel) as five
    uint32, the magic 'GPAT' and the name, then raw pixels. Pillow cannot read the format."""
    data = path.read_bytes()
    header_size, _version, width, height, depth = struct.unpack(">5I", data[:20])
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[depth]
    pixels = data[header_size:header_size + width * height * depth]
    return Image.frombytes(mode, (width, height), pixels)


def twemoji_images(size: int):
    """(group, category, file name, image) for every Twemoji image, food marked by its category."""
    with tarfile.open(twemoji.fetch_tarball()) as tar:
        emoji = json.load(tar.extractfile("package/emoji.json"))
        category = {}
        for e in emoji:
            category[e["image"]] = e["category"]
            for variation in (e.get("skin_variations") or {}).values():
                category[variation["image"]] = e["category"]
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            name = member.name.rsplit("/", 1)[-1]
            if not member.name.startswith("package/img/twitter/64/") or not name.endswith(".png"):
                continue
            im = Image.open(io.BytesIO(tar.extractfile(member).read()))
            yield category.get(name, "unknown"), name, square_rgba(im, size)


def openclipart_images(size: int):
    for path in sorted(OPENCLIPART.rglob("*.png")):
        relative = path.relative_to(OPENCLIPART).as_posix()
        if any(relative.startswith(p + "/") for p in OPENCLIPART_LEFT_OUT):
            continue
        try:
            with Image.open(path) as im:
                im.draft("RGBA", (size * 4, size * 4))
                im.thumbnail((size * 4, size * 4), Image.Resampling.LANCZOS)  # bounded memory before the pad
                yield relative.replace("/", "__"), square_rgba(im, size)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            print(f"  skipped {relative}: {exc}", file=sys.stderr)


def texture_images(group: str, size: int, rng: np.random.Generator):
    if group == "gimp":
        paths, read = sorted(GIMP_PATTERNS.rglob("*.pat")), read_pat
    else:
        paths, read = sorted(MYPAINT.rglob("*.png")), Image.open
    for path in paths:
        stem = path.relative_to(path.parents[1]).with_suffix("").as_posix().replace("/", "__").replace(" ", "_")
        for i, crop in enumerate(texture_crops(read(path), size, CROPS_PER_TEXTURE[group], rng)):
            yield f"{stem}_{i}.png", crop


def write_facts(out: Path, name: str, counts: dict[str, int], notes: str) -> None:
    groups = [{"group": g, "count": n, **GROUPS[g]} for g, n in counts.items() if n]
    facts = {"name": name, "count": sum(counts.values()),
             "source": "; ".join(f"{g['group']}: {g['source']}" for g in groups),
             "license": "; ".join(f"{g['group']}: {g['license']}" for g in groups),
             "attribution": " ".join(g["attribution"] + "." for g in groups),
             "notes": notes, "groups": groups}
    (out / "dataset.json").write_text(json.dumps(facts, indent=1), encoding="utf-8")


def split_validation(base: Path, val: Path, rng: np.random.Generator) -> dict[str, int]:
    """Move a random VALIDATION_SHARE of each group's images (the crops of one texture stay together, so no
    texture is on both sides) from `base` into `val`; returns the counts moved per group."""
    moved = {}
    for group in sorted(p.name for p in base.iterdir() if p.is_dir()):
        files = sorted((base / group).glob("*.png"))
        sources = sorted({f.name.rsplit("_", 1)[0] if group in CROPS_PER_TEXTURE else f.name for f in files})
        chosen = set(rng.permutation(sources)[:max(1, round(VALIDATION_SHARE * len(sources)))])
        (val / group).mkdir(parents=True, exist_ok=True)
        moved[group] = 0
        for f in files:
            if (f.name.rsplit("_", 1)[0] if group in CROPS_PER_TEXTURE else f.name) in chosen:
                f.rename(val / group / f.name)
                moved[group] += 1
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64, help="side of the square PNGs written (default 64)")
    parser.add_argument("--out", type=Path, default=RAW, help="output folder (default: data/colour-base/raw)")
    args = parser.parse_args(argv)
    base, val, held = args.out / "base", args.out / "base-val", args.out / "heldout-food"
    food_train, food_test = args.out / "food-train", args.out / "food-test"
    for folder in (base, val, held, food_train, food_test):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    counts = {g: 0 for g in GROUPS}
    held_count = 0
    for category, name, im in twemoji_images(args.size):
        if category == HELD_OUT:
            im.save(held / name)
            held_count += 1
        else:
            (base / "twemoji").mkdir(exist_ok=True)
            im.save(base / "twemoji" / name)
            counts["twemoji"] += 1
    print(f"twemoji: {counts['twemoji']} base images, {held_count} held out ({HELD_OUT})")
    rng = np.random.default_rng(0)
    for group, folder, items in (("openclipart", OPENCLIPART, lambda: openclipart_images(args.size)),
                                 ("gimp", GIMP_PATTERNS, lambda: texture_images("gimp", args.size, rng)),
                                 ("mypaint", MYPAINT, lambda: texture_images("mypaint", args.size, rng))):
        if not folder.is_dir():
            print(f"{group}: {folder} is missing (apt-get install {GROUPS[group]['source'].split()[2]}); skipped")
            continue
        (base / group).mkdir(exist_ok=True)
        for name, im in items():
            im.save(base / group / name)
            counts[group] += 1
        print(f"{group}: {counts[group]} images")
    moved = split_validation(base, val, np.random.default_rng(1))
    counts = {g: n - moved.get(g, 0) for g, n in counts.items()}
    command = "python data/colour-base/prepare.py" + (f" --size {args.size}" if args.size != 64 else "")
    write_facts(val, "colour-base-val", moved,
                f"prepared with `{command}`; a seeded {VALIDATION_SHARE:.0%} of each group of the colour-base set, "
                "kept out of it to measure the base model on unseen images of its kind")
    write_facts(base, "colour-base", counts,
                f"prepared with `{command}`; square {args.size} px RGBA PNGs (clip art padded with transparency, "
                f"textures cut into squares); Twemoji's {HELD_OUT} and Open Clip Art's food folder are kept out "
                "for the fine-tuning test")
    write_facts(held, "twemoji-food-heldout", {"twemoji": held_count},
                f"prepared with `{command}`; Twemoji's {HELD_OUT} category, kept out of the colour-base set")
    food = sorted(held.glob("*.png"))
    order = np.random.default_rng(2).permutation(len(food))
    for folder, part in ((food_train, order[:len(food) // 2]), (food_test, order[len(food) // 2:])):
        for i in part:
            shutil.copy2(food[i], folder / food[i].name)
        role = "the images a fine-tune learns from" if folder == food_train else "the test images"
        write_facts(folder, f"twemoji-{folder.name}", {"twemoji": len(part)},
                    f"prepared with `{command}`; a seeded half of Twemoji's {HELD_OUT} category (kept out of the "
                    f"colour-base set): {role}")
    print(f"{sum(counts.values())} base images in {base}; {sum(moved.values())} validation images in {val}; "
          f"{held_count} held-out images in {held} ({len(food) // 2} in {food_train.name}, the rest in "
          f"{food_test.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
