"""Prepare a Twemoji training set: colour emoji PNGs (64x64, with alpha) from the npm package
`emoji-datasource-twitter@16.0.0` (images CC-BY-4.0, Twitter/Twemoji; code MIT).

    python data/twemoji/prepare.py --subset faces          # writes data/twemoji/raw/faces/
    python -m studio train --family gan --name twemoji-faces-gan --images data/twemoji/raw/faces --color ...

Steps: `npm pack` fetches the package tarball into data/twemoji/raw/ (git-ignored; about 62 MB, once), the
package's own `emoji.json` gives each emoji's category, and the chosen subset's `img/twitter/64/*.png` files
are written to a folder together with `dataset.json` (name, source, licence, attribution), which the studio's
data loader reads so that the trained model's card records where the images came from.

Subsets (Unicode emoji categories, as the package's emoji.json labels them):
    faces      Smileys & Emotion      (169 images)
    animals    Animals & Nature       (159)
    food       Food & Drink           (131)
    flags      Flags                  (270)
    colourful  faces + animals + food (459)
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

PACKAGE = "emoji-datasource-twitter"
VERSION = "16.0.0"
HERE = Path(__file__).resolve().parent
RAW = HERE / "raw"
SUBSETS = {
    "faces": ("Smileys & Emotion",),
    "animals": ("Animals & Nature",),
    "food": ("Food & Drink",),
    "flags": ("Flags",),
    "colourful": ("Smileys & Emotion", "Animals & Nature", "Food & Drink"),
}
FACTS = {
    "source": f"npm package {PACKAGE}@{VERSION}, files img/twitter/64/*.png (Twemoji)",
    "license": "CC-BY-4.0",
    "attribution": "Twemoji graphics by Twitter, Inc. and other contributors, licensed under CC-BY 4.0 "
                   "(https://creativecommons.org/licenses/by/4.0/)",
}


def fetch_tarball() -> Path:
    """The package tarball in raw/, fetched with `npm pack` unless it is already there."""
    tarball = RAW / f"{PACKAGE}-{VERSION}.tgz"
    if tarball.is_file():
        return tarball
    RAW.mkdir(parents=True, exist_ok=True)
    if shutil.which("npm") is None:
        sys.exit("npm is not installed; install Node.js (it brings npm) and run this again")
    subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", str(RAW)], check=True)
    return tarball


def extract(tarball: Path, subset: str, out: Path) -> int:
    """Write the subset's 64 px PNGs and dataset.json into `out`; returns the number of images."""
    categories = SUBSETS[subset]
    with tarfile.open(tarball) as tar:
        emoji = json.load(tar.extractfile("package/emoji.json"))
        wanted = sorted(e["image"] for e in emoji if e["category"] in categories and e.get("has_img_twitter"))
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        for image in wanted:
            member = tar.extractfile(f"package/img/twitter/64/{image}")
            (out / image).write_bytes(member.read())
    facts = {"name": f"twemoji-{subset}", **FACTS, "count": len(wanted),
             "notes": f"prepared with `python data/twemoji/prepare.py --subset {subset}`; Unicode emoji categories: "
                      f"{', '.join(categories)}; 64x64 RGBA, alpha flattened on the background chosen at training "
                      "time"}
    (out / "dataset.json").write_text(json.dumps(facts, indent=1), encoding="utf-8")
    return len(wanted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", choices=sorted(SUBSETS), default="faces")
    parser.add_argument("--out", type=Path, help="output folder (default: data/twemoji/raw/<subset>)")
    args = parser.parse_args(argv)
    out = args.out or RAW / args.subset
    count = extract(fetch_tarball(), args.subset, out)
    print(f"{count} images and dataset.json written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
