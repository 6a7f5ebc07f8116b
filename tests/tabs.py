"""Every tab's handlers under one name, for the tests that drive the app without a browser (the app
itself is only a page: app.build_demo composes the tabs of ui/)."""

# ruff: noqa: F401

from ui.audit_tab.handlers import (
    EXTRAS as AUDIT_EXTRAS,
)
from ui.audit_tab.handlers import (
    audit_cancel_ui,
    audit_item_ui,
    audit_sets_line,
    audit_show_ui,
    audit_sources,
    audit_ui,
)
from ui.common import ACTIVE, NONE
from ui.compare_tab.handlers import (
    ATTRIBUTION_METHODS,
    attribution_ui,
    compare_items,
    compare_ui,
    head_ui,
    lens_ui,
    tokens_ui,
    topk_ui,
)
from ui.data_tab.handlers import (
    ask_ui,
    check_knowledge_ui,
    load_model_ui,
    preview,
    save_edits,
    set_status,
    split_holdout_ui,
    teach_ui,
)
from ui.data_tab.sources import (
    add_upload,
    after_add,
    inspect_upload,
    load_hub_ui,
)
from ui.import_pair import (
    import_ui,
)
from ui.runs_tab.handlers import (
    EXPORT_FORMATS,
    export_model_ui,
    run_steps_ui,
    runs_delete_ui,
    runs_export_ui,
    runs_view_ui,
)
from ui.shared import (
    RESULTS,
    compare_sources,
    delete_run_ui,
    load_run_ui,
    run_choices,
)
from ui.unlearn_tab.handlers import (
    MODE_LABELS,
    PRESET_LABELS,
    ask_both_ui,
    cancel_ui,
    on_method,
    reset_ui,
    run_ui,
)
