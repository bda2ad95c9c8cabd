"""Models tab and the `/models`, `/model_info`, `/model_rename`, `/model_delete`, `/model_export`,
`/model_import` and `/merge_lora` endpoints."""
from __future__ import annotations

import gradio as gr

from ..core.errors import StudioError
from ..services import models as service
from .common import COMPUTE, model_choices, number_or_default, ui_event, user_errors
from .views import key_values


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
    """Fold a LoRA adapter into its base model's weights, saved as a new standalone model `new_name`: a text
    model for a text adapter, a diffusion model for a diffusion adapter (it no longer needs the base model).
    The adapter itself is kept."""
    if not new_name or not new_name.strip():
        raise gr.Error("give the merged model a name")
    return service.merge_lora(name, new_name.strip())


def _refresh(current=None):
    choices = model_choices()
    names = {n for _, n in choices}
    value = current if current in names else (choices[0][1] if choices else None)
    return gr.update(choices=choices, value=value)


TABLE_COLUMNS = ["name", "family", "source", "image size", "data"]


def _table() -> list[list]:
    """Every model as a row people read: name, family, shipped or yours, image size, data, date."""
    rows = []
    for r in service.list_models():
        size = f"{r['image_size']} px {'grey' if r.get('channels') == 1 else 'colour'}" if r.get("image_size") else ""
        rows.append([r["name"], r["family"], "shipped" if r["source"] == "shipped" else "yours", size,
                     r.get("dataset") or ""])
    return rows


def _details(name: str):
    """The chosen model for the page: its record as a table, the raw record, its card and samples."""
    if not name:
        return None, "", "", None
    info, card, samples = model_info.__wrapped__(name)
    record = {k: v for k, v in info.items() if k not in ("meta", "files")}
    meta = info.get("meta") or {}
    for key in ("recipe", "metrics", "command"):
        if meta.get(key):
            record[key] = meta[key]
    record["files"] = info.get("files")
    return info, key_values(record), card, samples


def _choose_row(evt: gr.SelectData):
    """A click on the table's row chooses that model."""
    return gr.update(value=evt.row_value[0]) if evt.row_value else gr.skip()


def _after_change(current, message):
    """After a rename, delete, import or merge: the chooser, the table and the chosen model's details."""
    chosen = _refresh(current)
    return (chosen, _table(), *_details(chosen.get("value")), message)


def build(demo: gr.Blocks, tab: gr.Tab | None = None) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=360):
            with gr.Row(equal_height=False):
                chooser = gr.Dropdown(model_choices(), value=None, label="Model", elem_id="models-chooser",
                                      scale=4)
                refresh = gr.Button("Refresh", size="sm", scale=1, min_width=80, elem_id="models-refresh")
            with gr.Row():
                export = gr.Button("Export as zip", variant="primary", elem_id="models-export")
            exported = gr.File(label="Exported zip", interactive=False, visible=False, elem_id="models-exported")
            message = gr.Markdown(elem_id="models-message", elem_classes=["status-line"])
            table = gr.Dataframe(_table(), headers=TABLE_COLUMNS, interactive=False, wrap=True, max_height=330,
                                 column_widths=["32%", "13%", "13%", "17%", "25%"],
                                 label="All models (click a row to choose it)", elem_id="models-table")
            with gr.Accordion("Import a model zip", open=False):
                upload = gr.File(label="A model zip exported by a studio", file_types=[".zip"], height=90,
                                 elem_id="models-import-file")
                import_name = gr.Textbox(label="Import under the name (optional)", elem_id="models-import-name")
                do_import = gr.Button("Import", elem_id="models-import")
            with gr.Accordion("Rename", open=False):
                new_name = gr.Textbox(label="New name", elem_id="models-new-name")
                rename = gr.Button("Rename", elem_id="models-rename")
            with gr.Accordion("Delete", open=False):
                gr.Markdown("Deleting removes the model folder for good. Shipped models cannot be deleted.")
                confirm = gr.Checkbox(False, label="Yes, delete this model", elem_id="models-delete-confirm")
                delete = gr.Button("Delete", variant="stop", elem_id="models-delete")
            with gr.Accordion("Merge a LoRA adapter into its base model", open=False):
                gr.Markdown("For a LoRA adapter: saves base + adapter as one standalone text or diffusion model. "
                            "The adapter stays as it is.")
                merged_name = gr.Textbox(label="Name of the merged model", elem_id="models-merge-name")
                merge = gr.Button("Merge", elem_id="models-merge")
        with gr.Column(scale=1):
            samples = gr.Image(label="Samples", type="filepath", interactive=False, height=300,
                               elem_id="models-samples", elem_classes=["pixelated", "fill-image"])
            details = gr.HTML(elem_id="models-details")
            with gr.Accordion("studio.json as JSON", open=False):
                info = gr.JSON(label="studio.json", elem_id="models-info")
            card = gr.Markdown(elem_id="models-card")

    shown = [info, details, card, samples]
    changed = [chooser, table, *shown, message]
    ui_event(chooser.change, _details, chooser, shown, show_progress="hidden")
    table.select(_choose_row, None, chooser, api_visibility="private", queue=False)
    refresh.click(lambda current: _after_change(current, ""), chooser, changed, api_visibility="private",
                  queue=False)

    def _rename(name, new):
        record = model_rename.__wrapped__(name, new)
        return _after_change(record["name"], f"Renamed **{name}** to **{record['name']}**.")

    def _delete(name, sure):
        if not sure:
            raise StudioError("tick 'Yes, delete this model' first")
        said = model_delete.__wrapped__(name)
        return (*_after_change(None, said), False)

    def _import(file, name):
        record = model_import.__wrapped__(file, number_or_default(name))
        return _after_change(record["name"], f"Imported **{record['name']}** ({record['family']}).")

    def _merge(name, new):
        record = merge_lora.__wrapped__(name, new)
        return _after_change(record["name"], f"Merged {name} into the new text model **{record['name']}**.")

    def _export(name):
        if not name:
            raise StudioError("choose a model to export")
        path = model_export.__wrapped__(name)
        return (gr.update(value=path, visible=True),
                f"Exported **{name}**: the zip holds its weights, settings, samples and model card.")

    ui_event(rename.click, _rename, [chooser, new_name], changed, show_progress="hidden")
    ui_event(merge.click, _merge, [chooser, merged_name], changed, concurrency_id=COMPUTE)
    ui_event(delete.click, _delete, [chooser, confirm], [*changed, confirm], show_progress="hidden")
    ui_event(export.click, _export, chooser, [exported, message], concurrency_id=COMPUTE)
    ui_event(do_import.click, _import, [upload, import_name], changed, concurrency_id=COMPUTE)

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
        a_info, a_card, a_samples = gr.JSON(), gr.Markdown(), gr.Image(type="filepath")
        buttons = [gr.Button(n) for n in ("models", "info", "rename", "delete", "export", "import", "merge")]
    buttons[0].click(models, a_family, a_json, api_name="models", concurrency_limit=None)
    buttons[1].click(model_info, a_name, [a_info, a_card, a_samples], api_name="model_info", concurrency_limit=None)
    buttons[2].click(model_rename, [a_name, a_new], a_json, api_name="model_rename", concurrency_limit=None)
    buttons[3].click(model_delete, a_name, a_text, api_name="model_delete", concurrency_limit=None)
    buttons[4].click(model_export, a_name, a_zip, api_name="model_export", concurrency_id=COMPUTE)
    buttons[5].click(model_import, [a_file, a_import_name], a_json, api_name="model_import", concurrency_id=COMPUTE)
    buttons[6].click(merge_lora, [a_name, a_new], a_json, api_name="merge_lora", concurrency_id=COMPUTE)

    # Models trained, imported, renamed or deleted elsewhere (another tab, a script, the CLI) appear when the
    # page loads and whenever this tab is opened.
    demo.load(lambda current: _after_change(current, gr.skip()), chooser, changed, api_visibility="private")
    if tab is not None:
        tab.select(lambda current: _after_change(current, gr.skip()), chooser, changed,
                   api_visibility="private", queue=False)
