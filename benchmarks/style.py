"""Style transfer on this machine: speed per method, optimisation losses against steps, and a quality check.

    python benchmarks/style.py [--sizes 256 512] [--steps 200] [--content chelsea] [--style mypaint-cork]
    python benchmarks/style.py --texture-only          # only the texture table (below), into style.md

Prints Markdown tables and saves them to benchmarks/results/style.md (and the raw numbers to style.json).

Texture check: does a method carry the style's texture? The astronaut photo in the immunohistochemistry
stain's style (both from scikit-image), at the default 512 px, judged by `studio.vision.texture`: Gabor
filter-bank statistics of contrast-normalised luminance, which no method optimises or trains against (they all
use EfficientNet-Lite0). The floor is the distance between the stain's two halves.

Quality check: the Gram matrices of the output, measured in a network or layers *other* than the ones the
method optimised (VGG19 when its weights are cached; always EfficientNet-Lite0 layers outside the style loss),
should be closer to the style image's than the content's are, and further from the content's than zero.
Targets on this CPU (issue 5): AdaIN and per-style networks at 512 px under 1 s; optimisation at 256 px,
200 steps, under 60 s.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from studio.core.errors import StudioError
from studio.data.examples import installed_image
from studio.services.stylize import _tensor, available_methods, default_method, stylize
from studio.style.losses import gram
from studio.vision.features import efficientnet_lite0, vgg19

RESULTS = Path(__file__).resolve().parent / "results"

# EfficientNet-Lite0 layers that no style loss here uses (the loss uses stem and blocks 1, 3, 5, 8).
HELD_OUT_EFFICIENTNET = ("block2_expanded", "block4_expanded", "block6_expanded", "block10_expanded")
VGG_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def gram_distance(net, layers, a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over layers of the mean squared difference of Gram matrices, each layer divided by the squared
    mean of b's Gram entries so layers weigh alike. Images (1, 3, H, W) in [0, 1], resized to 256 px."""
    def prep(x):
        k = 256 / max(x.shape[-2:])
        return F.interpolate(x, scale_factor=k, mode="bilinear", align_corners=False, antialias=True)
    with torch.no_grad():
        fa, fb = net(prep(a), set(layers)), net(prep(b), set(layers))
        total = 0.0
        for name in layers:
            ga, gb = gram(fa[name]), gram(fb[name])
            total += (F.mse_loss(ga, gb) / gb.pow(2).mean().clamp_min(1e-12)).item()
    return total / len(layers)


def texture_rows(size: int = 512) -> tuple[list[dict], dict]:
    """Each method that takes a style image, on astronaut + immunohistochemistry at `size` px: seconds and the
    texture distance of its output (and of the photo, and of the stain's other half) to the stain."""
    import numpy as np
    import skimage.data
    from PIL import Image

    from studio.vision.texture import texture_distance

    content_im = Image.fromarray(skimage.data.astronaut())
    style_im = Image.fromarray(skimage.data.immunohistochemistry())
    style = _tensor(style_im.resize((size, size), Image.Resampling.LANCZOS))  # as the methods see it
    content = _tensor(content_im.resize((size, size), Image.Resampling.LANCZOS))
    half = size // 2
    reference = {"photo_to_style": round(texture_distance(content, style), 4),
                 "floor": round(texture_distance(style[..., :half], style[..., half:]), 4)}
    rows = []
    for method in [m for m in available_methods() if m in ("optimization", "adain", "fast-optimization")]:
        t0 = time.perf_counter()
        result = stylize(np.asarray(content_im), np.asarray(style_im), method=method, size=size)
        seconds = time.perf_counter() - t0
        out = _tensor(result.image.convert("RGB"))
        rows.append({"method": method, "size": size, "steps": result.parameters.get("steps", ""),
                     "seconds": round(seconds, 2), "output_to_style": round(texture_distance(out, style), 4)})
        print(rows[-1], flush=True)
        result.image.save(RESULTS / f"style-texture-{method}.png")
    return rows, reference


def texture_lines(rows: list[dict], reference: dict) -> list[str]:
    return ["## Texture: astronaut in the immunohistochemistry stain's style (512 px)", "",
            "Texture distance to the stain (`studio.vision.texture`: Gabor statistics of contrast-normalised "
            "luminance, a statistic no method here optimises). "
            f"The photo itself: **{reference['photo_to_style']}**; the stain's two halves (floor): "
            f"**{reference['floor']}**. Below the photo's value: the method carried texture; above: it lost some.",
            "", "| method | steps | seconds | output to style |", "|---|---|---|---|"] + \
        [f"| {r['method']}{' (default)' if r['method'] == default_method() else ''} | {r['steps']} | {r['seconds']} | "
         f"{r['output_to_style']} |" for r in rows] + [""]


def judges():
    out = [("EfficientNet-Lite0, held-out layers", efficientnet_lite0(), HELD_OUT_EFFICIENTNET)]
    try:
        out.insert(0, ("VGG19", vgg19(download=False), VGG_LAYERS))
    except StudioError as exc:
        print(f"(quality judged without VGG19: {exc})", file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--content", default="chelsea")
    parser.add_argument("--style", default="mypaint-cork")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--texture-only", action="store_true", help="only the texture table, replacing the one in "
                        "style.md")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    args.out.mkdir(parents=True, exist_ok=True)
    texture, reference = texture_rows()
    if args.texture_only:
        md = args.out / "style.md"
        old = md.read_text(encoding="utf-8") if md.is_file() else "# Style transfer benchmark\n"
        kept = old.split("## Texture:")[0].rstrip() + "\n\n"
        md.write_text(kept + "\n".join(texture_lines(texture, reference)), encoding="utf-8")
        print("\n".join(texture_lines(texture, reference)))
        return
    content_im, style_im = installed_image(args.content).load(), installed_image(args.style).load()
    methods = available_methods()
    rows, curves, quality = [], [], []
    for method in methods:
        for size in args.sizes:
            if method == "optimization" and size > max(args.sizes[0], 256) and args.steps > 50:
                steps = args.steps // 2  # 512 px optimisation: coarse to fine, half the steps to keep it minutes
            else:
                steps = args.steps
            t0 = time.perf_counter()
            result = stylize(content_im, style_im, method=method, size=size, steps=steps, gallery=False)
            seconds = time.perf_counter() - t0
            rows.append({"method": method, "size": size, "steps": steps if method == "optimization" else "",
                         "seconds": round(seconds, 2), "network": result.parameters.get("feature_network", "")})
            print(rows[-1], flush=True)
            if method == "optimization" and size == args.sizes[0]:
                curves = [{k: (round(v, 5) if isinstance(v, float) else v) for k, v in h.items()}
                          for h in result.history]
            if size == args.sizes[0]:
                out = _tensor(result.image.convert("RGB"))
                content = F.interpolate(_tensor(content_im), size=out.shape[-2:], mode="bilinear", antialias=True)
                style = _tensor(style_im)
                for judge, net, layers in judges():
                    quality.append({"method": method, "judge": judge,
                                    "content_to_style": round(gram_distance(net, layers, content, style), 4),
                                    "output_to_style": round(gram_distance(net, layers, out, style), 4),
                                    "output_to_content": round(gram_distance(net, layers, out, content), 4)})
                    print(quality[-1], flush=True)
                result.image.save(args.out / f"style-{method}-{size}.png")
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    lines = ["# Style transfer benchmark", "", f"Machine: {machine}. Content `{args.content}`, style `{args.style}`.",
             f"Command: `python benchmarks/style.py {' '.join(sys.argv[1:])}`", "",
             "## Seconds per image", "", "| method | size (px) | steps | seconds | feature network |", "|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['size']} | {r['steps']} | {r['seconds']} | {r['network']} |" for r in rows]
    lines += ["", f"## Optimisation losses against steps ({args.sizes[0]} px, weighted)", "",
              "| step | style | content | total |", "|---|---|---|---|"]
    marks = {1, 5, 10, 25, 50, 100, 150, 200, len(curves)}
    lines += [f"| {c['step']} | {c['style']:.4g} | {c['content']:.4g} | {c['total']:.4g} |" for c in curves
              if c["step"] in marks]
    lines += ["", f"## Quality: Gram distance in a network (or layers) other than the one optimised ({args.sizes[0]} px)",
              "", "Lower output_to_style than content_to_style: moved toward the style; output_to_content above 0: "
              "moved away from the content.", "",
              "| method | judged by | content to style | output to style | output to content |", "|---|---|---|---|---|"]
    lines += [f"| {q['method']} | {q['judge']} | {q['content_to_style']} | {q['output_to_style']} | "
              f"{q['output_to_content']} |" for q in quality]
    lines += [""] + texture_lines(texture, reference)
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "style.md").write_text(text, encoding="utf-8")
    (args.out / "style.json").write_text(json.dumps({"speed": rows, "curve": curves, "quality": quality,
                                                     "texture": texture, "texture_reference": reference,
                                                     "machine": machine, "argv": sys.argv[1:]}, indent=1))


if __name__ == "__main__":
    main()
