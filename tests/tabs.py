"""Every tab's handlers under one name, for the tests that drive the app without a browser (the app
itself is only a page: app.build_demo composes the tabs of ui/). The handlers that need the app's
Server are bound to SERVER, as a page binds them; a test changes its policy with
`monkeypatch.setattr(tabs.SERVER, "access", AccessPolicy(...))`."""

# ruff: noqa: F401

from ui.audit_tab.handlers import (
    EXTRAS as AUDIT_EXTRAS,
)
from ui.audit_tab.handlers import (
    audit_cancel_ui as _audit_cancel_ui,
)
from ui.audit_tab.handlers import (
    audit_item_ui,
    audit_sets_line,
    audit_sources,
)
from ui.audit_tab.handlers import (
    audit_show_ui as _audit_show_ui,
)
from ui.audit_tab.handlers import (
    audit_ui as _audit_ui,
)
from ui.common import ACTIVE, NONE
from ui.compare_tab.handlers import (
    ATTRIBUTION_METHODS,
    compare_items,
    head_ui,
    lens_ui,
    tokens_ui,
    topk_ui,
)
from ui.compare_tab.handlers import (
    attribution_ui as _attribution_ui,
)
from ui.compare_tab.handlers import (
    compare_ui as _compare_ui,
)
from ui.compare_tab.patching import (
    patching_ui as _patching_ui,
)
from ui.data_tab.handlers import (
    ask_ui,
    check_knowledge_ui,
    preview,
    save_edits,
    set_status,
    split_holdout_ui,
)
from ui.data_tab.handlers import (
    load_model_ui as _load_model_ui,
)
from ui.data_tab.handlers import (
    teach_ui as _teach_ui,
)
from ui.data_tab.sources import (
    add_upload,
    after_add,
    inspect_upload,
)
from ui.data_tab.sources import (
    load_hub_ui as _load_hub_ui,
)
from ui.forms import bind
from ui.guide_tab.handlers import (
    audit_ui as _guide_audit_ui,
)
from ui.guide_tab.handlers import (
    changed_ui as _guide_changed_ui,
)
from ui.guide_tab.handlers import (
    unlearn_ui as _guide_unlearn_ui,
)
from ui.import_pair import (
    import_ui as _import_ui,
)
from ui.runs_tab.handlers import (
    EXPORT_FORMATS,
    runs_view_ui,
)
from ui.runs_tab.handlers import (
    export_model_ui as _export_model_ui,
)
from ui.runs_tab.handlers import (
    run_steps_ui as _run_steps_ui,
)
from ui.runs_tab.handlers import (
    runs_delete_ui as _runs_delete_ui,
)
from ui.runs_tab.handlers import (
    runs_export_ui as _runs_export_ui,
)
from ui.runs_tab.side_by_side import (
    side_by_side_ui as _side_by_side_ui,
)
from ui.runs_tab.side_by_side import (
    side_items_ui as _side_items_ui,
)
from ui.shared import (
    RESULTS,
    compare_sources,
    run_choices,
)
from ui.shared import activate_run as _activate_run
from ui.shared import (
    delete_run_ui as _delete_run_ui,
)
from ui.shared import (
    load_run_ui as _load_run_ui,
)
from ui.unlearn_tab.handlers import (
    MODE_LABELS,
    PRESET_LABELS,
    ask_both_ui,
    on_method,
)
from ui.unlearn_tab.handlers import (
    cancel_ui as _cancel_ui,
)
from ui.unlearn_tab.handlers import (
    reset_ui as _reset_ui,
)
from ui.unlearn_tab.handlers import (
    run_ui as _run_ui,
)
from unlearn.serve.server import Server

SERVER = Server()
load_model_ui = bind(_load_model_ui, SERVER)
teach_ui = bind(_teach_ui, SERVER)
load_hub_ui = bind(_load_hub_ui, SERVER)
run_ui = bind(_run_ui, SERVER)
cancel_ui = bind(_cancel_ui, SERVER)
reset_ui = bind(_reset_ui, SERVER)
load_run_ui = bind(_load_run_ui, SERVER)
delete_run_ui = bind(_delete_run_ui, SERVER)
compare_ui = bind(_compare_ui, SERVER)
attribution_ui = bind(_attribution_ui, SERVER)
patching_ui = bind(_patching_ui, SERVER)
side_items_ui = bind(_side_items_ui, SERVER)
side_by_side_ui = bind(_side_by_side_ui, SERVER)
guide_unlearn_ui = bind(_guide_unlearn_ui, SERVER)
guide_changed_ui = bind(_guide_changed_ui, SERVER)
guide_audit_ui = bind(_guide_audit_ui, SERVER)
audit_ui = bind(_audit_ui, SERVER)
audit_cancel_ui = bind(_audit_cancel_ui, SERVER)
audit_show_ui = bind(_audit_show_ui, SERVER)
runs_delete_ui = bind(_runs_delete_ui, SERVER)
runs_export_ui = bind(_runs_export_ui, SERVER)
run_steps_ui = bind(_run_steps_ui, SERVER)
export_model_ui = bind(_export_model_ui, SERVER)
import_ui = bind(_import_ui, SERVER)


def activate_run(ref: str, user: str | None = None) -> dict:
    return _activate_run(ref, SERVER, user)
