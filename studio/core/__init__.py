"""Core: what every other floor stands on, with no model code.

- `environment`: the studio's environment variables (paths, device, limits), read in one place;
- `errors`: `StudioError`, the one exception that carries a message for the user, and range checks;
- `devices`: where tensors live and in which precision;
- `seeds`: seed ranges, random seeds, "11, 42" parsing, seeded generators;
- `images`: the one safe image decoder (size limits before decoding);
- `media`: images and animations out (PNG with parameters, grids, zips, GIF, MP4);
- `registry`: the model store (one folder per model, shaped like a Hub repository);
- `jobs`: background training jobs (one folder and one process each).
"""
