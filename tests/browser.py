"""Drive the app as a person would: start it in a subprocess, open it in headless Chromium.

Used by the browser tests and, from the command line, to take the README's screenshots:

    .venv/bin/python tests/browser.py --model bundled --tab model     # assets/screenshot_model_data.png
    .venv/bin/python tests/browser.py --model bundled --tab knowledge # a plain upload checked; the audit's sets
    .venv/bin/python tests/browser.py --model bundled --tab unlearn   # assets/screenshot_unlearn.png
    .venv/bin/python tests/browser.py --model bundled --tab compare   # assets/screenshot_compare*.png
    .venv/bin/python tests/browser.py --model bundled --tab audit     # the TOFU pipeline: audit, runs, report
    .venv/bin/python tests/browser.py --tab steps --run RUN_DIR       # a run's steps in the Runs tab
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(
    model: str, env: dict[str, str] | None = None, args: list[str] | None = None, timeout: float = 180
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start `app.py --model MODEL [ARGS]` on a free port; yield its URL and process; stop it afterwards.
    The process is yielded so a test can watch its memory or kill it."""
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"app-{port}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--model", model, "--port", str(port), *(args or [])],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.time() + timeout
            while time.time() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"the app exited early:\n{log.read_text()[-3000:]}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.5)
            else:
                raise TimeoutError(f"the app did not start in {timeout} s:\n{log.read_text()[-3000:]}")
            yield f"http://127.0.0.1:{port}/", proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


@contextmanager
def app_in_process(
    model: str, env: dict[str, str] | None = None, args: list[str] | None = None
) -> Iterator[tuple[str, None]]:
    """`app.py --model MODEL [ARGS]` started as `main` starts it, in this process and without blocking;
    yields its URL (and None where `app_server` gives the process); stops it and puts `env` back
    afterwards. A test that needs the server's own process (to kill it, or to read its memory) takes
    `app_server`; the others save the ~15 s a fresh process spends importing the libraries."""
    if str(ROOT) not in sys.path:  # run as a script (tests/browser.py), the app's folder is not on the path
        sys.path.insert(0, str(ROOT))
    import app
    from unlearn.serve.store import STORE

    port = free_port()
    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    demo = None
    try:
        try:
            demo = app.serve(["--model", model, "--port", str(port), *(args or [])], block=False)
            yield f"http://127.0.0.1:{port}/", None
        finally:
            if demo is not None:
                demo.close()
            STORE.clear_run()  # the next test starts from a model without this one's run
    finally:  # the environment is put back even if stopping failed
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def running_app(model: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """The app on MODEL, started in this process (`app_in_process`); yields its URL."""
    with app_in_process(model, env) as (url, _):
        yield url


@contextmanager
def browser_page(width: int = 1400, height: int = 1000) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


@contextmanager
def app_in_browser(model: str, tmp_path: Path) -> Iterator[tuple]:
    """The app on `model` (cache and runs under `tmp_path`), open in headless Chromium: yields the
    page and the list that collects the page's JavaScript errors."""
    errors: list[str] = []
    env = {"UNLEARN_CACHE_DIR": str(tmp_path), "UNLEARN_RUNS_DIR": str(tmp_path / "runs")}
    with running_app(model, env=env) as url, browser_page() as page:
        page.on("pageerror", lambda e: errors.append(str(e)))
        open_app(page, url)
        yield page, errors


def open_app(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#model-card table", timeout=60_000)


def load_in_browser(page, folder: str, timeout: float = 120_000) -> None:
    """Load a model folder from the Model & data tab, as a person would; wait for the new card."""
    page.get_by_role("tab", name="Model & data").click()
    page.get_by_label("Local folder (save_pretrained)").check()
    page.get_by_label("Hub id, folder or .gguf path").fill(folder)
    page.get_by_role("button", name="Load model", exact=True).click()
    page.locator("#load-msg").get_by_text("✅ Loaded").wait_for(timeout=timeout)


def run_default_method(page, timeout: float = 900_000) -> None:
    """On an open app: the Unlearn tab, Run with the defaults (NPO, quick), wait until it finished."""
    page.get_by_role("tab", name="Unlearn").click()
    page.get_by_role("button", name="Run", exact=True).click()
    page.locator("#run-status").get_by_text("finished in").wait_for(timeout=timeout)


def screenshot_model_tab(page, url: str, out: Path, forget: str = "harry_potter") -> None:
    """Open the Model & data tab, wait for the card and the forget-set preview, check what the
    model knows of the forget set, and save a full-page screenshot."""
    page.goto(url)
    page.wait_for_selector("#model-card table", timeout=60_000)
    page.locator("#set-table").get_by_text("Who wrote the Harry Potter books?").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Check what the model knows of this set").click()
    page.get_by_text("correctly (a keyword").wait_for(timeout=240_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(out), full_page=True)


def screenshot_unlearn_tab(page, url: str, out: Path, question: str = "Who wrote the Harry Potter books?") -> None:
    """Run the default method (NPO, quick defaults) from the Unlearn tab, ask both models a forget
    question, and save a full-page screenshot with the curves and the before/after table."""
    open_app(page, url)
    run_default_method(page)
    page.get_by_placeholder("e.g. Who wrote the Harry Potter books?").fill(question)
    page.get_by_role("button", name="Ask both").click()
    after = page.locator("#after-answer textarea")
    page.wait_for_function("(el) => el.value.length > 0", arg=after.element_handle(), timeout=120_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(out), full_page=True)


COMPARE_PANELS = [
    "#plot-strips",
    "#plot-topk",
    "#plot-lens",
    "#plot-head-change",
    "#plot-heads",
    "#plot-head",
    "#plot-rollout",
]


def compare_in_browser(page, item: str = "Who wrote the Harry Potter books?", exercise: bool = True) -> None:
    """On an open app: the Compare tab, a forget item, Compare, and every panel drawn. With `exercise`,
    also each panel's own control (lens metric, enlarged head) and attribution, waiting for each."""
    page.get_by_role("tab", name="Compare").click()
    page.get_by_label("Item (from the sets picked in Model & data)").click()
    page.get_by_role("option", name=item).first.click()
    page.locator("#compare-btn").click()
    page.locator("#compare-note").get_by_text("computed in").wait_for(timeout=240_000)  # the last output
    for sel in COMPARE_PANELS:
        page.locator(f"{sel} .js-plotly-plot").wait_for(timeout=60_000)
    page.locator("#attr-btn").click()
    page.locator("#attr-note").get_by_text("both models").wait_for(timeout=240_000)
    page.locator("#plot-attribution .js-plotly-plot").wait_for(timeout=60_000)
    if not exercise:
        return
    page.get_by_label("rank", exact=True).check()
    page.locator("#plot-lens").get_by_text("rank + 1").first.wait_for(timeout=60_000)
    page.get_by_label("probability", exact=True).check()
    before = page.locator("#plot-head .gtitle").text_content() or ""
    layer = "2" if "Layer 1," in before else "1"
    slider = page.locator("#cmp-layer input[type=range]")
    slider.fill(layer)
    slider.dispatch_event("pointerup")
    page.locator("#plot-head").get_by_text(f"Layer {layer},").wait_for(timeout=60_000)


# at every change of the Compare tab: ms since the press, the Before answer's text, the panels drawn, done
WATCH_COMPARE = """(panels) => {
    const log = (window.__compareLog = []);
    const t0 = performance.now();
    const text = (sel) => document.querySelector(sel)?.innerText || "";
    const snap = () => log.push({
        t: performance.now() - t0,
        before: text("#gen-before"),
        panels: panels.filter((s) => document.querySelector(s + " .js-plotly-plot")).length,
        done: text("#compare-note").includes("computed in"),
    });
    const tab = document.querySelector("#gen-before").closest(".tabitem") || document.body;
    new MutationObserver(snap).observe(tab, { subtree: true, childList: true, characterData: true });
}"""


def watch_compare(page, item: str = "Who wrote the Harry Potter books?", timeout: float = 240_000) -> list[dict]:
    """On an open app: the Compare tab, a forget item, Compare, watched as a person sees it: a record
    at every change of the tab (see WATCH_COMPARE) until the last output; returns the records."""
    page.get_by_role("tab", name="Compare").click()
    page.get_by_label("Item (from the sets picked in Model & data)").click()
    page.get_by_role("option", name=item).first.click()
    page.evaluate(WATCH_COMPARE, COMPARE_PANELS)
    page.locator("#compare-btn").click()
    page.locator("#compare-note").get_by_text("computed in").wait_for(timeout=timeout)
    for sel in COMPARE_PANELS:
        page.locator(f"{sel} .js-plotly-plot").wait_for(timeout=60_000)
    return page.evaluate("() => window.__compareLog")


def screenshot_compare_tab(page, url: str, out: Path) -> None:
    """Run NPO (quick defaults) from the Unlearn tab, then compare a Harry Potter item before and
    after, attribution included: a full-page screenshot."""
    open_app(page, url)
    run_default_method(page)
    compare_in_browser(page, exercise=False)
    page.wait_for_timeout(2000)
    page.screenshot(path=os.path.join(tempfile.gettempdir(), out.stem + "_full.png"), full_page=True)  # to look at
    # the README's views: the top of the tab down to the top-k plot, then single panels
    bottom = page.locator("#plot-topk").evaluate("el => el.getBoundingClientRect().bottom + window.scrollY")
    page.screenshot(path=str(out), full_page=True, clip={"x": 0, "y": 0, "width": 1400, "height": bottom + 10})
    page.mouse.move(0, 0)  # no hover toolbar or tooltip in the panel shots
    for name, sel in (("lens", "#plot-lens"), ("heads", "#plot-head-change"), ("attribution", "#plot-attribution")):
        page.locator(sel).screenshot(path=str(out.with_name(f"{out.stem}_{name}.png")))


def pick(page, label: str, option: str, exact: bool = True) -> None:
    """Choose `option` (or, not `exact`, the first option containing it) in the dropdown labelled `label`."""
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=exact).first.click()


def set_number(page, elem_id: str, value: int) -> None:
    """Type into a slider's number box (what a person does for an exact value)."""
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def tofu_pipeline_sets(page) -> None:
    """Model & data: the fictitious authors' forget / retain / holdout splits."""
    page.get_by_role("tab", name="Model & data").click()
    pick(page, "Forget set (to unlearn)", "fictitious_authors:forget")
    pick(page, "Retain set (to keep)", "fictitious_authors:retain")
    pick(page, "Holdout set (never trained on)", "fictitious_authors:holdout")


def teach_in_browser(page, epochs: int | None = None, timeout: float = 900_000) -> None:
    """Model & data: open Teach, (set the epochs,) teach the picked forget + retain sets, wait."""
    page.get_by_text("Teach: make the model know the forget and retain sets").click()
    if epochs is not None:
        set_number(page, "teach-epochs", epochs)
    page.get_by_role("button", name="Teach", exact=True).click()
    page.locator("#teach-status").get_by_text("✅").wait_for(timeout=timeout)


AUDIT_PANELS = ["#plot-aucs", "#plot-roc-after", "#plot-features", "#plot-landscape", "#plot-surface", "#plot-tofu"]


def audit_in_browser(page, items: int | None = None, neighbours: int | None = None, timeout: float = 1_800_000) -> None:
    """The Audit tab: (settings,) Run audit on the run now, wait for every panel."""
    page.get_by_role("tab", name="Audit").click()
    if items is not None or neighbours is not None:
        page.get_by_text("Audit settings", exact=False).click()
        if items is not None:
            set_number(page, "audit-items", items)
        if neighbours is not None:
            set_number(page, "audit-k", neighbours)
    page.locator("#audit-btn").click()
    page.locator("#audit-status").get_by_text("Audit finished").wait_for(timeout=timeout)
    for sel in AUDIT_PANELS:
        page.locator(f"{sel} .js-plotly-plot").wait_for(timeout=60_000)


def render_offline(report: Path, out: Path | None = None) -> dict[str, int]:
    """Open a saved HTML report in headless Chromium with the network off (every request but the
    file itself refused): count the plots, the plots drawn and the page errors; optionally a
    full-page screenshot."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(offline=True, viewport={"width": 1400, "height": 1000})
            refused: list[str] = []

            def gate(route) -> None:
                if route.request.url.startswith("file://"):
                    route.continue_()
                else:
                    refused.append(route.request.url)
                    route.abort()

            context.route("**/*", gate)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(report.resolve().as_uri())
            page.wait_for_load_state("load")
            page.wait_for_timeout(1500)
            counts = page.evaluate(
                """() => ({
                    plots: document.querySelectorAll('.plotly-graph-div').length,
                    drawn: [...document.querySelectorAll('.plotly-graph-div')].filter(d =>
                        d.querySelector('.main-svg')
                        && d.querySelectorAll('.trace, .hm, .heatmaplayer image, path.box').length > 0
                    ).length,
                })"""
            )
            if out is not None:
                page.screenshot(path=str(out), full_page=True)
            return {**counts, "errors": len(errors), "refused": len(refused)}
        finally:
            browser.close()


AUDIT_REPORT = Path(tempfile.gettempdir()) / "audit-report.html"


def screenshot_report(report: Path, shot: Path) -> None:
    """The report opened offline, a full-page shot halved so the README can carry it."""
    from PIL import Image

    print("report offline:", render_offline(report, shot), flush=True)
    with Image.open(shot) as im:
        im.resize((im.width // 2, im.height // 2), Image.LANCZOS).save(shot, optimize=True)


def screenshot_audit_tab(page, url: str, out: Path, run_dir: str | None = None) -> None:
    """The TOFU pipeline on the loaded model: the fictitious authors' splits, Teach (cached after the
    first time), NPO with the quick defaults, an audit with the default settings; then screenshots of
    the Audit tab, the Runs tab and the exported report opened offline (all in assets/). With
    `run_dir`, the app shows that run's saved audit instead (no model call)."""
    open_app(page, url)
    tofu_pipeline_sets(page)
    if run_dir is None:
        teach_in_browser(page)
        run_default_method(page)
        started = time.time()
        audit_in_browser(page)
        print(f"audit in the browser: {time.time() - started:.0f} s", flush=True)
    else:
        page.get_by_role("tab", name="Audit").click()
        pick(page, "Audit", Path(run_dir).name, exact=False)
        page.get_by_role("button", name="Show its saved audit").click()
        page.locator("#audit-status").get_by_text("Saved audit").wait_for(timeout=60_000)
        for sel in AUDIT_PANELS:
            page.locator(f"{sel} .js-plotly-plot").wait_for(timeout=60_000)
    page.wait_for_timeout(2000)
    page.mouse.move(0, 0)
    page.screenshot(path=os.path.join(tempfile.gettempdir(), out.stem + "_full.png"), full_page=True)
    bottom = page.locator("#plot-roc-after").evaluate("el => el.getBoundingClientRect().bottom + window.scrollY")
    page.screenshot(path=str(out), full_page=True, clip={"x": 0, "y": 0, "width": 1400, "height": bottom + 10})
    shots = [("features", "#plot-features"), ("landscape", "#plot-landscape"), ("surface", "#plot-surface")]
    shots += [("quantization", "#plot-quantization")]
    for name, sel in shots:
        page.locator(sel).screenshot(path=str(out.with_name(f"{out.stem}_{name}.png")))
    with page.expect_download() as dl:
        page.locator("#audit-html").click()
    AUDIT_REPORT.write_text(Path(dl.value.path()).read_text())
    page.get_by_role("tab", name="Runs").click()
    page.locator("#plot-runs .js-plotly-plot").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(out.with_name("screenshot_runs.png")), full_page=True)


def screenshot_run_steps(page, url: str, out: Path, run_dir: str) -> None:
    """The Runs tab with one run picked: its forget and retain P̃ against steps, the steps it kept."""
    open_app(page, url)
    page.get_by_role("tab", name="Runs").click()
    page.locator("#plot-runs .js-plotly-plot").wait_for(timeout=60_000)
    pick(page, "Run", Path(run_dir).name, exact=False)
    page.locator("#plot-run-steps .js-plotly-plot").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.mouse.move(0, 0)
    top = page.locator("#runs-table").evaluate("el => el.getBoundingClientRect().top + window.scrollY")
    bottom = page.locator("#run-steps-note").evaluate("el => el.getBoundingClientRect().bottom + window.scrollY")
    page.screenshot(
        path=str(out), full_page=True, clip={"x": 0, "y": top - 10, "width": 1400, "height": bottom - top + 20}
    )


def upload_in_browser(page, path: Path, timeout: float = 60_000) -> None:
    """Model & data: open "Add a set", upload `path` and press Add set; wait for the ✅."""
    page.get_by_text("Add a set: upload a file or load a hub dataset").click()
    page.locator("#upload-file input[type=file]").set_input_files(str(path))
    page.locator("#add-msg").get_by_text("Recognised").wait_for(timeout=timeout)
    page.locator("#add-set-btn").click()
    page.locator("#add-msg").get_by_text("✅ Added").wait_for(timeout=timeout)


SOLAR_FACTS = ROOT / "tests" / "data" / "solar_system.jsonl"


def screenshot_first_hour(page, url: str, out: Path, data: Path = SOLAR_FACTS) -> None:
    """A teacher's plain file (16 facts, no keywords column): upload it, check what the model knows (the
    table with derived keywords, replies and P(answer)), split a holdout from it, and the Audit tab's
    summary of the three sets: assets/screenshot_knowledge.png and screenshot_audit_sets.png."""
    open_app(page, url)
    upload_in_browser(page, data)
    page.get_by_text("Add a set: upload a file or load a hub dataset").click()  # fold it away again
    page.get_by_role("button", name="Check what the model knows of this set").click()
    page.get_by_text("correctly (a keyword").wait_for(timeout=240_000)
    page.wait_for_timeout(1500)
    scroll = page.evaluate("() => window.scrollY")  # bounding boxes are in the viewport, clips in the page
    top = page.locator("#set-caption").bounding_box()["y"] + scroll - 130
    plot = page.locator("#know-plot").bounding_box()
    end = plot["y"] + scroll + plot["height"]
    page.screenshot(path=str(out), clip={"x": 0, "y": top, "width": 1400, "height": end - top + 10}, full_page=True)
    page.locator("#split-btn").click()
    page.locator("#split-msg").get_by_text("holdout").first.wait_for(timeout=60_000)
    page.get_by_role("tab", name="Audit").click()
    page.locator("#audit-sets").get_by_text("holdout").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    box = page.locator("#audit-sets").bounding_box()
    page.screenshot(
        path=str(out.with_name("screenshot_audit_sets.png")),
        clip={"x": 0, "y": 0, "width": 1400, "height": box["y"] + box["height"] + 90},
        full_page=True,
    )


def import_in_browser(page, after: str, tab: str = "runs", timeout: float = 300_000) -> None:
    """On an open app: the tab's *After = a checkpoint made elsewhere* row, import `after`, wait for the message."""
    page.get_by_role("tab", name={"runs": "Runs", "cmp": "Compare", "aud": "Audit"}[tab]).click()
    page.locator(f"#{tab}-import").get_by_text("After = a checkpoint made elsewhere").first.click()
    page.locator(f"#{tab}-import-path textarea").fill(after)
    page.locator(f"#{tab}-import-btn").click()
    page.locator(f"#{tab}-import-msg").get_by_text("Imported").wait_for(timeout=timeout)


def screenshot_pairs(page, url: str, out: Path, after: str) -> None:
    """Import the checkpoint `after` from the Runs tab, shot the tab; then Compare it on a solar fact
    (the README's "Audit a model you did not train here")."""
    open_app(page, url)
    import_in_browser(page, after)
    page.wait_for_timeout(1500)
    top = page.locator("#runs-table").evaluate("el => el.getBoundingClientRect().top + window.scrollY")
    bottom = page.locator("#runs-import-msg").evaluate("el => el.getBoundingClientRect().bottom + window.scrollY")
    page.screenshot(
        path=str(out), full_page=True, clip={"x": 0, "y": top - 10, "width": 1400, "height": bottom - top + 30}
    )
    page.get_by_role("tab", name="Model & data").click()
    upload_in_browser(page, SOLAR_FACTS)
    compare_in_browser(page, item="1. ", exercise=False)
    page.wait_for_timeout(1500)
    bottom = page.locator("#plot-topk").evaluate("el => el.getBoundingClientRect().bottom + window.scrollY")
    cmp = out.with_name(out.stem + "_compare.png")
    page.screenshot(path=str(cmp), full_page=True, clip={"x": 0, "y": 0, "width": 1400, "height": bottom + 10})


GUIDE_DONE = {1: "We follow", 2: "saved as", 3: "Before the run", 4: "fell most", 5: "logit lens", 6: "An audit in"}


def guide_in_browser(page, timeout: float = 600_000) -> dict[str, float]:
    """On an open app: the Guided demo's six buttons in order, each waited for; seconds per step and in all."""
    page.get_by_role("tab", name="Guided demo").click()
    times: dict[str, float] = {}
    start = time.perf_counter()
    for i, text in GUIDE_DONE.items():
        t0 = time.perf_counter()
        page.locator(f"#guide-btn-{i}").click()
        page.locator(f"#guide-note-{i}").get_by_text(text).wait_for(timeout=timeout)
        times[str(i)] = round(time.perf_counter() - t0, 1)
    times["total"] = round(time.perf_counter() - start, 1)
    return times


def screenshot_guide_tab(page, url: str, out: Path) -> None:
    """The Guided demo end to end, the whole page halved in size (it is long); prints each step's seconds."""
    open_app(page, url)
    print(json.dumps(guide_in_browser(page)))
    page.wait_for_timeout(1500)
    page.screenshot(path=str(out), full_page=True, scale="css")
    _halve(out)


def _halve(path: Path) -> None:
    from PIL import Image

    im = Image.open(path)
    im.resize((im.width // 2, im.height // 2), Image.LANCZOS).save(path)


def screenshot_runs_side(page, url: str, out: Path, names: tuple[str, ...] = ("npo", "rmu")) -> None:
    """Runs side by side: the first saved run whose label holds each of `names`, on the first item."""
    open_app(page, url)
    page.get_by_role("tab", name="Runs").click()
    for name in names:
        page.locator("#side-runs input").click()
        page.get_by_role("option", name=name).first.click()
    page.keyboard.press("Escape")
    page.locator("#side-note").get_by_text("Items of").wait_for(timeout=60_000)
    page.locator("#side-btn").click()
    page.locator("#side-note").get_by_text("computed in").wait_for(timeout=600_000)
    page.locator("#plot-side-topk .js-plotly-plot").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    edge = "(([sel, edge]) => document.querySelector(sel).getBoundingClientRect()[edge] + window.scrollY)"
    top = page.evaluate(edge, ["#side-runs", "top"]) - 130
    bottom = page.evaluate(edge, ["#plot-side-topk", "bottom"]) + 10
    page.screenshot(path=str(out), full_page=True, clip={"x": 0, "y": top, "width": 1400, "height": bottom - top})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="bundled")
    tabs = ["model", "knowledge", "unlearn", "compare", "audit", "steps", "pairs", "guide", "side"]
    ap.add_argument("--tab", default="model", choices=tabs)
    ap.add_argument("--out", default=None, help="default: assets/screenshot_<tab>.png")
    ap.add_argument(
        "--run",
        default=None,
        help="--tab audit: show this run's saved audit instead of the pipeline; --tab steps: its steps",
    )
    ap.add_argument("--after", default=None, help="--tab pairs: the checkpoint to import (python -m unlearn export)")
    args = ap.parse_args()
    names = {
        "model": "screenshot_model_data.png",
        "knowledge": "screenshot_knowledge.png",
        "unlearn": "screenshot_unlearn.png",
        "compare": "screenshot_compare.png",
        "audit": "screenshot_audit.png",
        "steps": "screenshot_run_steps.png",
        "pairs": "screenshot_pairs.png",
        "guide": "screenshot_guide.png",
        "side": "screenshot_runs_side.png",
    }
    out = Path(args.out or ROOT / "assets" / names[args.tab])
    model = args.model
    if args.run:  # the run's own (taught) model, so its weights fit
        model = json.loads((Path(args.run) / "run.json").read_text())["model"]["ref"]
    with running_app(model) as url, browser_page() as page:
        shoot = {
            "model": screenshot_model_tab,
            "knowledge": screenshot_first_hour,
            "unlearn": screenshot_unlearn_tab,
            "compare": screenshot_compare_tab,
            "audit": screenshot_audit_tab,
            "guide": screenshot_guide_tab,
            "side": screenshot_runs_side,
        }
        if args.tab == "audit":
            screenshot_audit_tab(page, url, out, args.run)
        elif args.tab == "steps":
            screenshot_run_steps(page, url, out, args.run)
        elif args.tab == "pairs":
            screenshot_pairs(page, url, out, args.after)
        else:
            shoot[args.tab](page, url, out)
    if args.tab == "audit":  # a browser of its own, with the network off
        screenshot_report(AUDIT_REPORT, out.with_name("screenshot_report.png"))
    print(out)


if __name__ == "__main__":
    main()
