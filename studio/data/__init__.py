"""Training data in: images (uploads, zips, folders, built-in sets), text corpora and tokenizers, safe zip
reading, and the example images that install with the studio's packages. No model code."""
