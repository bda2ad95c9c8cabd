"""Neural style transfer's shared parts, below the style families (one idea per file, after pytorch/examples
`fast_neural_style`):

- `losses.py`: Gram matrices, style / content / total-variation losses, colour preservation, masks;
- `optimize.py`: Gatys et al. optimisation of the image itself (L-BFGS or Adam, coarse to fine), the
  method that needs no trained network;
- `tiling.py`: run a feed-forward method over a large image in overlapping tiles.

The trained methods are model families: `studio.families.style` (per-style networks, Johnson et al.) and
`studio.families.adain` (arbitrary style, Huang & Belongie); `studio.services.stylize` reads the inputs,
chooses the method and saves the PNG. Images are float tensors (N, 3, H, W) in [0, 1] throughout.
"""
