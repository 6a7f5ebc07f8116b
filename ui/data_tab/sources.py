"""The Model & data tab's sources of sets: uploaded files (their columns, their layout) and hub datasets, and
the set pickers every tab shows once a set is added. Not a tab: ui/data_tab.py wires these."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import gradio as gr

from ui.common import NONE, error_line, guarded, number
from unlearn.data import workspace as ws
from unlearn.data.builtin import DataSet
from unlearn.data.formats import DataError, read_records
from unlearn.data.hub_data import PRESETS, load_hub_examples
from unlearn.data.item_checks import control_char_warning
from unlearn.data.schemas import ColumnMapping, columns, detect_schema, load_upload
from unlearn.errors import UserError
from unlearn.serve.server import Server


def picker_updates(user_sets: ws.UserSets, **values: str) -> list[dict]:
    opts = ws.choices(user_sets)
    return [
        gr.update(
            choices=opts + ([NONE] if role == "holdout" else []), **({"value": values[role]} if role in values else {})
        )
        for role in ws.ROLES
    ]


# ---------------------------------------------------------------- uploads and hub
@guarded(4, 3)
def inspect_upload(path: str | None, text_mode: str) -> tuple[dict, dict, dict, str]:
    """After a file is chosen: detect its schema and offer its columns for manual mapping."""
    # value None left some pickers showing the last file's column. One update per picker: with one dict
    # given to all three, the second kept showing the old column in Chromium (gradio 6.31).
    empty = [gr.update(choices=[NONE], value=NONE) for _ in range(3)]
    if not path:  # cleared, also by after_add: keep the message about the file just added
        return *empty, gr.skip()
    try:
        records = read_records(Path(path).read_bytes(), Path(path).name, text_mode=text_mode)
    except (DataError, OSError) as e:
        return *empty, _about(path, error_line(e))
    cols = [NONE] + columns(records)
    try:
        schema, m = detect_schema(records)
        msg = (
            f"Recognised {layout_words(m)} ({len(records)} records) in {Path(path).name}. Press *Add set*, "
            "or map columns by hand."
        )
    except DataError as e:
        m, msg = ColumnMapping(), _about(path, f"⚠️ {e}")
    return (
        gr.update(choices=cols, value=m.question or NONE),
        gr.update(choices=cols, value=m.answer or NONE),
        gr.update(choices=cols, value=m.text or NONE),
        msg,
    )


def layout_words(m: ColumnMapping) -> str:
    """What was recognised in a file, in words a person can check against it."""
    if m.text and not m.question:
        base = f"a text column (`{m.text}`): plain passages"
    else:
        base = f"question and answer columns (`{m.question}`, `{m.answer}`)"
    extras = [
        what
        for field, what in (
            ("choices", "multiple-choice options"),
            ("paraphrased_answer", "paraphrased answers"),
            ("perturbed_answers", "perturbed (wrong) answers for TOFU's truth ratio"),
            ("paraphrased_question", "paraphrased questions"),
            ("entity", "an entity column"),
        )
        if getattr(m, field)
    ]
    return base + (f", with {', '.join(extras)}" if extras else "")


def _about(path: str | Path, msg: str) -> str:
    """A message tied to the file and the moment it is about: after several tries with several files,
    a refusal must not be mistaken for one about the file before."""
    return f"{msg}  \n*({Path(path).name}, tried at {time.strftime('%H:%M:%S')})*"


def _upload_key(data: bytes, text_mode: str, mapping: ColumnMapping | None) -> str:
    """The same bytes read the same way make the same set: its fingerprint, kept with the set."""
    how = f"{text_mode}|{mapping}".encode()
    return hashlib.sha256(data + b"\0" + how).hexdigest()


@guarded(5, 4)
def add_upload(path: str | None, text_mode: str, name: str, q_col: str, a_col: str, t_col: str, user_sets, which: str):
    if not path:
        return (
            user_sets,
            *picker_updates(user_sets),
            "❌ No new file to add: drop a file on the upload box (or click it to browse) first.",
        )
    filename = Path(path).name
    try:
        data = Path(path).read_bytes()
        records = read_records(data, filename, text_mode=text_mode)
    except (DataError, OSError) as e:
        return (user_sets, *picker_updates(user_sets), _about(path, error_line(e)))
    try:
        _, auto = detect_schema(records)
    except DataError:
        auto = ColumnMapping()
    chosen = {k: (v if v and v != NONE else None) for k, v in dict(question=q_col, answer=a_col, text=t_col).items()}
    same_as_auto = all(getattr(auto, k) == v for k, v in chosen.items())
    mapping = None if same_as_auto else ColumnMapping(**chosen)
    if mapping is not None and not (mapping.text or (mapping.question and mapping.answer)):
        msg = "❌ Map a question and an answer column, or a text column for plain passages."
        return (user_sets, *picker_updates(user_sets), msg)
    key = _upload_key(data, text_mode, mapping)
    earlier = next((n for n, d in user_sets.items() if d.get("upload_key") == key), None)
    if earlier is not None:
        msg = (
            f"ℹ️ {filename} was already added as **{earlier}**: selected it as the {which} set instead of adding "
            "a copy. To add it differently, map its columns by hand first."
        )
        return (user_sets, *picker_updates(user_sets, **{which: earlier}), msg)
    try:
        schema, examples = load_upload(data, filename, mapping, text_mode)
    except DataError as e:
        return (user_sets, *picker_updates(user_sets), _about(path, error_line(e)))
    no_keywords = sum(e.is_qa and not e.keywords for e in examples)
    found = layout_words(auto) if mapping is None else "the columns you mapped"
    title = (name or Path(filename).stem).strip()
    ds = DataSet(title, filename, "uploaded", f"Uploaded from {filename}: {found}.", examples)
    user_sets, set_name = ws.add_set(user_sets, ds)
    user_sets[set_name] = {**user_sets[set_name], "upload_key": key}
    picks = {which: set_name}
    msg = f"✅ Added **{set_name}**: {len(examples)} items ({found}), selected as the {which} set."
    warning = control_char_warning(examples)
    msg += f"  \n{warning}" if warning else ""
    if no_keywords:
        msg += (
            f"  \n{no_keywords} items came without keywords: the answer's names, numbers and capitalised words "
            "not in the question were taken as keywords (what *Check what the model knows* looks for in a "
            "reply). See and edit them in the table."
        )
    return (user_sets, *picker_updates(user_sets, **picks), msg)


@guarded(message=None)
def after_add(msg: str) -> dict:
    """Empty the upload box once its file was added, so a second press of *Add set* cannot add it again."""
    return gr.update(value=None) if msg.startswith(("✅", "ℹ️")) else gr.skip()


@guarded(3, None)
def on_preset(preset: str) -> tuple[str, dict, str]:
    p = PRESETS[preset]
    return p.repo_id, gr.update(choices=p.configs, value=p.default_config), p.splits_for(p.default_config)[0]


@guarded(5, 4)
def load_hub_ui(
    repo: str,
    config: str,
    split: str,
    limit: float,
    user_sets,
    which: str,
    progress=gr.Progress(),
    *,
    server: Server,  # noqa: B008
):
    repo, split = (repo or "").strip(), (split or "").strip() or "train"
    progress(0.1, desc=f"Loading {repo} from the hub…")
    try:
        server.access.check_dataset(repo)
        n = number(limit or 500, "rows to load", int)
        if n < 1:
            raise UserError(f"rows to load must be 1 or more, got {n}")
        schema, examples = load_hub_examples(repo, config or None, split, n)
    except (DataError, ValueError) as e:  # AccessDenied is a ValueError
        return (user_sets, *picker_updates(user_sets), error_line(e))
    label = f"{repo.split('/')[-1]}:{config or ''}:{split}"
    ds = DataSet(label, repo, "hub", f"{repo} config {config} split {split} ({schema}).", examples)
    user_sets, set_name = ws.add_set(user_sets, ds)
    msg = f"✅ Added **{set_name}**: {len(examples)} items, selected as the {which} set."
    warning = control_char_warning(examples)
    msg += f"  \n{warning}" if warning else ""
    return (user_sets, *picker_updates(user_sets, **{which: set_name}), msg)
