"""The studio's own networks, one standalone file each, importing only torch and huggingface_hub.

Each class carries `huggingface_hub.PyTorchModelHubMixin`, so a model folder holds `config.json` (the
constructor's arguments) beside `model.safetensors`, and saving copies the class's file into the folder
too: anyone with torch and huggingface_hub rebuilds the network with one call, without the studio::

    import sys; sys.path.insert(0, folder)
    from conv_vae import ConvVAE
    vae = ConvVAE.from_pretrained(folder)

Keep these files free of studio imports (`tests/unit/test_networks.py` checks): they travel alone.
"""
