"""Gallery tab and the `/gallery`, `/gallery_item`, `/rate`, `/gallery_delete`, `/originality` and
`/train_on_favourites` endpoints: everything the studio made, rated, checked for originality, and fed back
into its model."""
from __future__ import annotations

import gradio as gr

from ..services import gallery as service
from ..services.favourites import DEFAULT_MIX, DEFAULT_STEPS, train_on_favourites
from ..services.originality import originality
from .common import COMPUTE, STARS, file_path, model_choices, optional, ui_event, user_errors
from .views import key_values

ALL = "all"
VIDEO_SUFFIXES = (".mp4",)
AUDIO_SUFFIXES = (".wav", ".mp3", ".ogg", ".flac")
SHOWN = 240  # items shown in the grid at once


# -- public endpoints -----------------------------------------------------------------------------------------
@user_errors
def gallery_api(kind: str | None = None, model: str | None = None, min_rating: float | None = None,
                favourites: bool | None = False, since: str | None = None, until: str | None = None) -> list[dict]:
    """Gallery records, newest first: id, kind (the tab: generate, interpolate, style, write, music), model,
    created (UTC), seed, rating (0-5), favourite, parameters, files (their paths on the server), preview, and
    for texts the text. Filters: kind, model, min_rating (0-5), favourites (only favourites), since and until
    (dates, inclusive, like 2026-11-23)."""
    records, notes = service.list_gallery(optional(kind), optional(model), optional(min_rating), bool(favourites),
                                          optional(since), optional(until))
    for note in notes[:5]:
        gr.Warning(f"gallery: {note}")
    return records


@user_errors
def gallery_item_api(item: str):
    """One gallery item's record and its files, to download."""
    record = service.gallery_item(item)
    return record, record["files"]


@user_errors
def rate_api(item: str, stars: float | None = None, favourite: bool | None = None) -> dict:
    """Rate a gallery item with 0-5 whole stars (0: unrated) and/or mark it a favourite (true/false); a field
    left empty stays as it is. Returns the updated record. Ratings are kept on disk."""
    return service.rate(item, stars, favourite)


@user_errors
def gallery_delete_api(item: str) -> str:
    """Delete a gallery item and its files."""
    return service.delete_from_gallery(item)


@user_errors
def originality_api(model: str | None = None, image=None, item: str | None = None):
    """Is an image new, or a near copy of a training image? Give an image model and an `image`, or a gallery
    `item` (its model is used unless `model` is given). Returns the report (nearest_distance, threshold,
    near_copy, pixel_distance, pixel_threshold, nearest training images with their distances, where the
    training images came from) and the nearest training images."""
    report, paths = originality(optional(model), file_path(image), optional(item))
    return report, [str(p) for p in paths]


@user_errors
def train_on_favourites_api(model: str, name: str, steps: float | None = DEFAULT_STEPS,
                            mix: float | None = DEFAULT_MIX, items: str | None = None):
    """Continue training `model` on its favourited gallery items (images for image models, texts for text
    models) mixed with its own training data, into a new model `name`, as a background job. steps 1-100,000;
    mix: the share of favourites in training (above 0, at most 1; default 0.5); items: gallery ids separated
    by commas (default: all the model's favourites). Returns the job id and its status (/job_status)."""
    result = train_on_favourites(model, (name or "").strip(), optional(steps), optional(mix), optional(items))
    return result["job"], {**result["status"], "gallery_items": result["gallery_items"]}


# -- the tab --------------------------------------------------------------------------------------------------
def _filtered(kind, model, min_rating, favourites, since, until):
    records = gallery_api(None if kind == ALL else kind, None if model == ALL else model, min_rating, favourites,
                          since, until)
    shown = records[:SHOWN]  # a page stays quick; filters narrow the rest down
    count = f"{len(records)} item{'s' if len(records) != 1 else ''}"
    if len(records) > SHOWN:
        count += f", the newest {SHOWN} shown"
    if not records:  # a first visit: say where items come from (the filters may also exclude everything)
        count += (": what you make in Generate, Interpolate, Style, Write and Compose is kept here; loosen the "
                  "filters if you expected some")
    return [(r["preview"] or _placeholder(), _caption(r)) for r in shown], [r["id"] for r in shown], count


def _placeholder() -> str:
    # Items with no picture (a tune) still need a tile in the grid.
    from ..core.environment import environment

    path = environment().gallery_dir / ".placeholder.png"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(service.text_card("(no picture)"))
    return str(path)


def _caption(record: dict) -> str:
    stars = "★" * record["rating"]
    heart = " ♥" if record["favourite"] else ""
    seed = f" · seed {record['seed']}" if record["seed"] is not None else ""
    return f"{record['kind']} · {record['model']}{seed} {stars}{heart}".strip()


def _record_table(record: dict) -> str:
    """The item as a person reads it: what made it first, then its parameters."""
    shown = {k: record.get(k) for k in ("id", "kind", "model", "seed", "created", "rating", "favourite")}
    params = {k: v for k, v in (record.get("parameters") or {}).items() if k not in ("studio_version", "weights")}
    return key_values({**shown, **params})


def _show(record: dict | None):
    """The selected item's views: full-size image, video, sound, text, record (JSON and table), stars,
    favourite, files, id."""
    if not record:
        return (gr.update(value=None, visible=False), gr.update(value=None, visible=False),
                gr.update(value=None, visible=False), gr.update(value="", visible=False), None, "", 0, False,
                None, None)
    files = record["files"]
    video = next((f for f in files if f.lower().endswith(VIDEO_SUFFIXES)), None)
    audio = next((f for f in files if f.lower().endswith(AUDIO_SUFFIXES)), None)
    image = None if video else next((f for f in files if f.lower().endswith((".png", ".gif", ".jpg", ".webp"))
                                     and not f.endswith("preview.png")), None)
    text = record.get("text")
    return (gr.update(value=image, visible=image is not None), gr.update(value=video, visible=video is not None),
            gr.update(value=audio, visible=audio is not None), gr.update(value=text or "", visible=text is not None),
            record, _record_table(record), record["rating"], record["favourite"], files, record["id"])


def _model_filter_choices() -> list[str]:
    records, _ = service.list_gallery(limit=service.MAX_LIST)
    return [ALL] + sorted({r["model"] for r in records if r["model"]})


def build(demo: gr.Blocks, tab: gr.Tab | None = None) -> None:
    """The tab's components and events; `tab` (when given) refreshes the listing each time it is opened, so
    what the other tabs made since shows at once."""
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            kind = gr.Dropdown([ALL, *service.KINDS], value=ALL, label="Tab", elem_id="gallery-kind")
            model = gr.Dropdown([ALL], value=ALL, label="Model", elem_id="gallery-model")
            min_rating = gr.Slider(0, 5, value=0, step=1, label="At least this many stars",
                                   elem_id="gallery-min-rating")
            favourites = gr.Checkbox(False, label="Favourites only", elem_id="gallery-favourites")
            with gr.Row():
                since = gr.Textbox(label="From", placeholder="2026-11-23", elem_id="gallery-since")
                until = gr.Textbox(label="To", placeholder="2026-11-30", elem_id="gallery-until")
            show = gr.Button("Show", variant="primary", elem_id="gallery-show")
            count = gr.Markdown(elem_id="gallery-count")
        with gr.Column(scale=3):
            grid = gr.Gallery(label="Everything made", columns=6, height="auto", allow_preview=False,
                              format="png", elem_id="gallery-grid", elem_classes=["pixelated"])
    ids = gr.State([])
    selected = gr.State(None)
    with gr.Row(visible=True):
        with gr.Column(scale=2):
            full = gr.Image(label="Full size", type="filepath", format="png", visible=False, height=420,
                            elem_id="gallery-full", elem_classes=["pixelated", "fill-image"])
            video = gr.Video(label="Animation", visible=False, elem_id="gallery-video")
            audio = gr.Audio(label="Sound", type="filepath", visible=False, elem_id="gallery-audio")
            text = gr.Textbox(label="Text", lines=12, visible=False, buttons=["copy"], elem_id="gallery-text")
            with gr.Accordion("Originality: is it new, or a near copy of a training image?", open=False):
                check = gr.Button("Check originality", elem_id="gallery-check")
                verdict = gr.Markdown(elem_id="gallery-verdict")
                nearest = gr.Gallery(label="Nearest training images", columns=4, height="auto",
                                     elem_id="gallery-nearest", elem_classes=["pixelated"])
                report_table = gr.HTML(elem_id="gallery-report-table")
                with gr.Accordion("Report as JSON", open=False):
                    report = gr.JSON(label="Report", elem_id="gallery-report")
        with gr.Column(scale=1, min_width=280):
            stars = gr.Radio(STARS, value=0, label="Rating", elem_id="gallery-stars")
            favourite = gr.Checkbox(False, label="Favourite", elem_id="gallery-favourite")
            files = gr.File(label="Download", file_count="multiple", elem_id="gallery-files")
            with gr.Accordion("Delete", open=False):
                confirm = gr.Checkbox(False, label="Yes, delete this item", elem_id="gallery-delete-confirm")
                delete = gr.Button("Delete", variant="stop", elem_id="gallery-delete")
            info_table = gr.HTML(elem_id="gallery-table")
            with gr.Accordion("Item as JSON", open=False):
                info = gr.JSON(label="Item", elem_id="gallery-info")
    with gr.Accordion("Fine-tune a model on its favourites", open=False):
        gr.Markdown("Continues training the model on its favourite outputs mixed with its own training data, as a "
                    "background job (watch it in the Train tab). The new model's card lists the items it used.")
        with gr.Row():
            ft_model = gr.Dropdown([], label="Model", elem_id="gallery-ft-model")
            ft_name = gr.Textbox(label="New model's name", elem_id="gallery-ft-name")
            ft_steps = gr.Number(DEFAULT_STEPS, precision=0, label="Steps", elem_id="gallery-ft-steps")
            ft_mix = gr.Slider(0.05, 1.0, value=DEFAULT_MIX, step=0.05, label="Share of favourites",
                               elem_id="gallery-ft-mix")
        ft_start = gr.Button("Fine-tune on favourites", elem_id="gallery-ft-start")
        ft_table = gr.HTML(elem_id="gallery-ft-table")
        with gr.Accordion("Job as JSON", open=False):
            ft_status = gr.JSON(label="Job", elem_id="gallery-ft-status")

    filters = [kind, model, min_rating, favourites, since, until]
    views = [full, video, audio, text, info, info_table, stars, favourite, files, selected]

    def refresh(*values):
        shown, found, n = _filtered(*values)
        return shown, found, n, *_show(None)

    def refresh_all(current_model, *values):
        choices = _model_filter_choices()
        value = current_model if current_model in choices else ALL
        shown, found, n = _filtered(values[0], value, *values[1:])
        return gr.update(choices=choices, value=value), shown, found, n, *_show(None)

    ui_event(show.click, refresh, filters, [grid, ids, count, *views], concurrency_limit=None)
    for control in (kind, model, favourites, min_rating):
        ui_event(control.input, refresh, filters, [grid, ids, count, *views], concurrency_limit=None)

    def pick(found, evt: gr.SelectData):
        index = evt.index if isinstance(evt.index, int) else evt.index[0]
        return _show(service.gallery_item(found[index]) if 0 <= index < len(found) else None)

    ui_event(grid.select, pick, ids, views, concurrency_limit=None, show_progress="hidden")

    def save_rating(item, value, fav):
        if not item:
            raise gr.Error("choose an item in the gallery first")
        record = rate_api(item, value, fav)
        return record, _record_table(record)

    for control in (stars, favourite):
        ui_event(control.input, save_rating, [selected, stars, favourite], [info, info_table],
                 concurrency_limit=None, show_progress="hidden")

    def remove(item, sure, *values):
        if not item:
            raise gr.Error("choose an item in the gallery first")
        if not sure:
            raise gr.Error("tick 'Yes, delete this item' first")
        message = gallery_delete_api(item)
        gr.Info(message)
        shown, found, n = _filtered(*values)
        return False, shown, found, n, *_show(None)

    ui_event(delete.click, remove, [selected, confirm, *filters], [confirm, grid, ids, count, *views],
             concurrency_limit=None)

    def check_item(item):
        if not item:
            raise gr.Error("choose a Generate or Style item in the gallery first")
        result, paths = originality_api(None, None, item)
        word = "a **near copy** of a training image" if result["near_copy"] else "**new**: no training image is near"
        summary = (f"It is {word}. Nearest training image: perceptual distance {result['nearest_distance']:.4f} "
                   f"(near copy below {result['threshold']:.4f}), pixels {result['pixel_distance']:.4f} (below "
                   f"{result['pixel_threshold']:.4f}). Compared with {result['training_images']} training images "
                   f"from {result['training_source']}.")
        table = key_values({k: v for k, v in result.items() if k != "nearest"})
        return summary, paths, table, result

    ui_event(check.click, check_item, selected, [verdict, nearest, report_table, report], concurrency_id=COMPUTE)

    def fine_tune(name_of_model, new_name, steps, mix):
        job, status = train_on_favourites_api(name_of_model, new_name, steps, mix)
        gr.Info(f"started job {job}; the Train tab shows its progress")
        return status, key_values({"job": job, **status})

    ui_event(ft_start.click, fine_tune, [ft_model, ft_name, ft_steps, ft_mix], [ft_status, ft_table],
             concurrency_id=COMPUTE)

    # Public endpoints on hidden components, so scripts name only the parameters they mean.
    with gr.Row(visible=False):
        a_kind, a_model = gr.Textbox(label="kind"), gr.Textbox(label="model")
        a_min = gr.Number(None, label="min_rating")
        a_fav = gr.Checkbox(False, label="favourites")
        a_since, a_until = gr.Textbox(label="since"), gr.Textbox(label="until")
        a_item = gr.Textbox(label="item")
        a_stars = gr.Number(None, label="stars")
        # JSON, not a checkbox: true, false, or left out (null), which keeps the mark as it is.
        a_favourite = gr.JSON(None, label="favourite")
        a_image = gr.File(label="image")
        a_name = gr.Textbox(label="name")
        a_steps = gr.Number(DEFAULT_STEPS, label="steps")
        a_mix = gr.Number(DEFAULT_MIX, label="mix")
        a_items = gr.Textbox(label="items")
        a_json, a_json2, a_text = gr.JSON(), gr.JSON(), gr.Textbox()
        a_files = gr.File(file_count="multiple")
        a_gallery = gr.Gallery(format="png")
        buttons = {n: gr.Button(n) for n in ("gallery", "item", "rate", "delete", "originality", "train")}
    buttons["gallery"].click(gallery_api, [a_kind, a_model, a_min, a_fav, a_since, a_until], a_json,
                             api_name="gallery", concurrency_limit=None)
    buttons["item"].click(gallery_item_api, a_item, [a_json, a_files], api_name="gallery_item",
                          concurrency_limit=None)
    buttons["rate"].click(rate_api, [a_item, a_stars, a_favourite], a_json, api_name="rate", concurrency_limit=None)
    buttons["delete"].click(gallery_delete_api, a_item, a_text, api_name="gallery_delete", concurrency_limit=None)
    buttons["originality"].click(originality_api, [a_model, a_image, a_item], [a_json2, a_gallery],
                                 api_name="originality", concurrency_id=COMPUTE)
    buttons["train"].click(train_on_favourites_api, [a_model, a_name, a_steps, a_mix, a_items], [a_text, a_json],
                           api_name="train_on_favourites", concurrency_id=COMPUTE)

    def trainable(current):
        choices = model_choices(kind="image") + model_choices(kind="text")
        names = {n for _, n in choices}
        return gr.update(choices=choices, value=current if current in names else None)

    def on_load(current_model, current_ft, *values):
        return (*refresh_all(current_model, *values), trainable(current_ft))

    loaded = [model, ft_model, *[f for f in filters if f is not model]]
    targets = [model, grid, ids, count, *views, ft_model]
    ui_event(demo.load, on_load, loaded, targets, concurrency_limit=None, show_progress="hidden")
    if tab is not None:  # what the other tabs made since shows as soon as the tab opens
        ui_event(tab.select, on_load, loaded, targets, concurrency_limit=None, show_progress="hidden")
