"""Many sessions on one server (issue 7): eight `gradio_client` users while an unlearning run trains."""

from __future__ import annotations

from .browser import app_server
from .sessions import session_load


def test_eight_sessions_during_a_run_each_see_their_own_and_wait_their_turn(tiny_dir, tmp_path) -> None:
    env = {"UNLEARN_CACHE_DIR": str(tmp_path)}
    with app_server(str(tiny_dir), env) as (url, proc):
        got = session_load(url, proc.pid, n=8, steps=100_000, cancel=True, timeout=600)
    print(got)
    assert got["run_status"].startswith("⚠️ cancelled"), got["run_status"]
    # the light panels answered from each session's own arrays while the run held the model
    assert got["panels_answered_during_run"] and all(got["own_panel"]) and got["others_panel"] == 0
    # every question waited in the one model queue and was told its place
    assert sorted(r for seen in got["ranks_seen"] for r in seen) == list(range(8)), got["ranks_seen"]
    # ... and got the same answer as the same question asked alone afterwards
    assert all(got["answers_match"]) and all(isinstance(a, str) and a for a in got["answers"])
    assert got["rss_peak_mb"] < 2 * got["rss_start_mb"] + 500, got
