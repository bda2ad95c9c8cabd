"""Neural style transfer, one idea per file (after pytorch/examples `fast_neural_style`):

- `losses.py`: Gram matrices, style / content / total-variation losses, colour preservation, masks;
- `optimize.py`: Gatys et al. optimisation of the image itself (L-BFGS or Adam, coarse to fine);
- `adain.py`: arbitrary style in one forward pass (Huang & Belongie), encoder + a decoder trained here;
- `transformer_net.py`: the feed-forward network trained for one style (Johnson et al.), CPU-sized;
- `tiling.py`: run a feed-forward method over a large image in overlapping tiles.

Images are float tensors (N, 3, H, W) in [0, 1] throughout.
"""
