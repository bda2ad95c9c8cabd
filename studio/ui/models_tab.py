"""Models tab and the `/models`, `/model_info`, `/model_rename`, `/model_delete`, `/model_export`,
`/model_import` and `/merge_lora` endpoints."""
from __future__ import annotations

import gradio as gr

from ..services import models as service
from .common import COMPUTE, model_choices, user_errors


@user_errors
def models(family: str | None = None) -> list[dict]:
    """Every model (shipped and yours), optionally of one family: records with name, family, kind, source."""
    return service.list_models(family=family or None)


def _displayable(card: str) -> str:
    # Markdown would render the card's YAML front-matter as a heading; show it as a YAML block instead.
    if card.startswith("---\n") and "\n---" in card[4:]:
        front, body = card[4:].split("\n---", 1)
        return body.lstrip("\n") + "\n\n**Hub metadata**\n\n```yaml\n" + front.strip() + "\n```\n"
    return card


@user_errors
def model_info(name: str):
    """A model's record and studio.json, its model card (Markdown) and its samples image."""
    info = service.model_info(name)
    card = _displayable(info.pop("card"))
    samples = info.pop("samples")
    return info, card, samples


@user_errors
def model_rename(name: str, new_name: str) -> dict:
    """Rename one of your models (shipped models are read-only)."""
    return service.rename_model(name, new_name)


@user_errors
def model_delete(name: str) -> str:
    """Delete one of your models (shipped models are read-only)."""
    return service.delete_model(name)


@user_errors
def model_export(name: str) -> str:
    """A zip of the model folder (studio.json, safetensors weights, samples, model card)."""
    return str(service.export_model(name))


@user_errors
def model_import(file: str, name: str | None = None) -> dict:
    """Import a model zip exported by a studio; `name` (optional) renames it on the way in."""
    if not file:
        raise gr.Error("choose a .zip file exported from a studio")
    return service.import_model(file, name or None)


@user_errors
def merge_lora(name: str, new_name: str) -> dict:
    """Fold a LoRA adapter into its base model's weights, saved as a new standalone text model `new_name`
    (it no longer needs the base model, and writes a little faster). The adapter itself is kept."""
    if not new_name or not new_name.strip():
        raise gr.Error("give the merged model a name")
    return service.merge_lora(name, new_name.strip())


def _refresh(current=None):
    choices = model_choices()
    names = {n for _, n in choices}
    value = current if current in names else (choices[0][1] if choices else None)
    return gr.update(choices=choices, value=value)


def build(demo: gr.Blocks, tab: gr.Tab | None = None) -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            with gr.Row():
                chooser = gr.Dropdown(model_choices(), value=None, label="Model", elem_id="models-chooser",
                                      scale=4)
                refresh = gr.Button("Refresh", size="sm", scale=1)
            table = gr.JSON(label="All models", elem_id="models-table")
            with gr.Accordion("Rename", open=False):
                new_name = gr.Textbox(label="New name", elem_id="models-new-name")
                rename = gr.Button("Rename", elem_id="models-rename")
            with gr.Accordion("Delete", open=False):
                gr.Markdown("Deleting removes the model folder for good. Shipped models cannot be deleted.")
                confirm = gr.Checkbox(False, label="Yes, delete this model", elem_id="models-delete-confirm")
                delete = gr.Button("Delete", variant="stop", elem_id="models-delete")
            with gr.Accordion("Merge a LoRA adapter into its base model", open=False):
                gr.Markdown("For a LoRA adapter: saves base + adapter as one standalone text model. "
                            "The adapter stays as it is.")
                merged_name = gr.Textbox(label="Name of the merged model", elem_id="models-merge-name")
                merge = gr.Button("Merge", elem_id="models-merge")
            with gr.Accordion("Export and import", open=True):
                export = gr.Button("Export as zip", elem_id="models-export")
                exported = gr.File(label="Exported zip", elem_id="models-exported")
                upload = gr.File(label="Import a model zip", file_types=[".zip"], elem_id="models-import-file")
                import_name = gr.Textbox(label="Import under the name (optional)", elem_id="models-import-name")
                do_import = gr.Button("Import", elem_id="models-import")
            message = gr.Markdown(elem_id="models-message")
        with gr.Column(scale=2):
            samples = gr.Image(label="Samples", type="filepath", elem_id="models-samples")
            card = gr.Markdown(elem_id="models-card")
            info = gr.JSON(label="studio.json", elem_id="models-info")

    chooser.change(lambda n: model_info(n) if n else (None, "", None), chooser, [info, card, samples],
                   api_visibility="private")
    refresh.click(_refresh, chooser, chooser, api_visibility="private", queue=False).then(
        models, None, table, api_visibility="private", api_name="_models_table")

    def _rename(name, new):
        record = model_rename(name, new)
        return _refresh(record["name"]), f"renamed {name} to {record['name']}"

    def _delete(name, sure):
        if not sure:
            raise gr.Error("tick 'Yes, delete this model' first")
        return _refresh(), model_delete(name), False

    def _import(file, name):
        record = model_import(file, name)
        return _refresh(record["name"]), f"imported {record['name']} ({record['family']})"

    def _merge(name, new):
        record = merge_lora(name, new)
        return _refresh(record["name"]), f"merged {name} into the new text model {record['name']}"

    rename.click(_rename, [chooser, new_name], [chooser, message], api_visibility="private")
    merge.click(_merge, [chooser, merged_name], [chooser, message], api_visibility="private",
                api_name="_merge_ui", concurrency_id=COMPUTE)
    delete.click(_delete, [chooser, confirm], [chooser, message, confirm], api_visibility="private")
    export.click(model_export, chooser, exported, api_visibility="private", api_name="_export_ui",
                 concurrency_id=COMPUTE)
    do_import.click(_import, [upload, import_name], [chooser, message], api_visibility="private",
                    concurrency_id=COMPUTE)

    # Public endpoints with parameters named for what they are; hidden triggers, plain outputs.
    with gr.Row(visible=False):
        a_family = gr.Textbox(label="family")
        a_name = gr.Textbox(label="name")
        a_new = gr.Textbox(label="new_name")
        a_file = gr.File(label="file")
        a_import_name = gr.Textbox(label="name")
        a_json = gr.JSON()
        a_text = gr.Textbox()
        a_zip = gr.File()
        buttons = [gr.Button(n) for n in ("models", "info", "rename", "delete", "export", "import", "merge")]
    buttons[0].click(models, a_family, a_json, api_name="models", concurrency_limit=None)
    buttons[1].click(model_info, a_name, [info, card, samples], api_name="model_info", concurrency_limit=None)
    buttons[2].click(model_rename, [a_name, a_new], a_json, api_name="model_rename", concurrency_limit=None)
    buttons[3].click(model_delete, a_name, a_text, api_name="model_delete", concurrency_limit=None)
    buttons[4].click(model_export, a_name, a_zip, api_name="model_export", concurrency_id=COMPUTE)
    buttons[5].click(model_import, [a_file, a_import_name], a_json, api_name="model_import", concurrency_id=COMPUTE)
    buttons[6].click(merge_lora, [a_name, a_new], a_json, api_name="merge_lora", concurrency_id=COMPUTE)

    def on_load(current):
        chosen = _refresh(current)
        name = chosen.get("value")
        details = model_info(name) if name else (None, "", None)
        return chosen, models(), *details

    demo.load(on_load, chooser, [chooser, table, info, card, samples], api_visibility="private")
