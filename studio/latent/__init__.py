"""Walks through a model's latent space, for any image family: paths between keyframes (slerp, lerp,
easing, loops, random walks) in `paths`, and the principal directions its images vary along in
`directions`. Families give the latents (`latents`, `encode`) and turn them into images (`decode`)."""
