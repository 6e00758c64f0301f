"""Notebook 6's drawing pad in a real browser: JupyterLab runs the notebook in quick mode, a 7 and a 1 are
drawn on the canvas with the mouse, and the model's top answer shown under the pad is read back.

Needs Chromium from the OS packages (``apt-get install chromium``) and Playwright's Python package (the
``tests`` extra); without them the test is skipped. With MNISTLIB_SCREENSHOT naming a PNG file, the pad
showing the drawn 7 and its reading is saved there (the picture in notebook 6 and in docs/).
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT
from mnistlib.digits.drawing import SIZE

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = "06_own_digits.ipynb"
RUN_ALL_TIMEOUT_MS = 300_000  # quick mode trains a small model before the pad appears: about a minute on 2 cores
READING_TIMEOUT_MS = 60_000


@pytest.fixture
def sync_playwright():
    """Playwright's entry point, once Chromium, Playwright and the widgets are known to be there."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("needs Playwright: pip install -e '.[tests]', and Chromium: apt-get install chromium")
    if not CHROMIUM.is_file():
        pytest.skip(f"needs Chromium at {CHROMIUM}: apt-get install chromium")
    for name in ("ipycanvas", "ipywidgets", "jupyterlab"):
        pytest.importorskip(name, reason=f"needs {name}: pip install -e '.[tests]'")
    return sync_playwright


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerAPI:
    """The Jupyter server's REST API at ``base`` (http://127.0.0.1:PORT), called with ``token``."""

    def __init__(self, base, token):
        self.base, self.token = base, token
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # localhost, whatever the proxy

    def get(self, path):
        """The JSON answer to GET /api/``path``; raises OSError (urllib's errors) when the server cannot be
        reached or answers with an error."""
        request = urllib.request.Request(f"{self.base}/api/{path}", headers={"Authorization": f"token {self.token}"})
        with self.opener.open(request, timeout=30) as answer:
            return json.load(answer)

    def kernel_ready(self, notebook):
        """Whether the notebook's session has a kernel that a browser page is connected to and that is idle."""
        return any(session["path"] == notebook and session["kernel"]["connections"]
                   and session["kernel"]["execution_state"] == "idle" for session in self.get("sessions"))


@pytest.fixture
def lab(sync_playwright, tmp_path, data_root):
    """JupyterLab serving a copy of the notebooks in quick mode, with settings of its own; yields its
    ServerAPI, and shuts it down after."""
    notebooks = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks, ignore=shutil.ignore_patterns("runs", ".ipynb_checkpoints"))
    settings = tmp_path / "lab-settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "apputils-extension").mkdir()
    # Every cell and output in the page, so the pad can be found wherever it is in the notebook.
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}))
    # No question about Jupyter news in a corner of the page.
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false"}))
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "MNISTLIB_QUICK": "1", "MNISTLIB_DATA": str(data_root), "MPLBACKEND": "Agg",
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    log = open(tmp_path / "jupyter.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}",
         "--ServerApp.port_retries=0", f"--ServerApp.root_dir={notebooks}", "--LabApp.news_url=None",
         *(["--allow-root"] if os.geteuid() == 0 else [])],  # CI runs as root
        env=env, stdout=log, stderr=subprocess.STDOUT)
    server_api = ServerAPI(f"http://127.0.0.1:{port}", token)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                server_api.get("status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start:\n" + (tmp_path / "jupyter.log").read_text()[-3000:])
                time.sleep(0.5)
        yield server_api
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def line(start, end, moves=6):
    """Points from ``start`` to ``end`` (canvas pixels), ``moves`` steps apart, both ends included."""
    return [(start[0] + (end[0] - start[0]) * i / moves, start[1] + (end[1] - start[1]) * i / moves)
            for i in range(moves + 1)]


def draw(page, canvas, points):
    """One stroke through ``points`` (canvas pixels): mouse down at the first, moves, mouse up at the last."""
    box = canvas.bounding_box()
    at = [(box["x"] + x * box["width"] / SIZE, box["y"] + y * box["height"] / SIZE) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for point in at[1:]:
        page.mouse.move(*point, steps=3)
        page.wait_for_timeout(40)  # the canvas reports moves at its own pace; let each one through
    page.mouse.up()


def accept_dialogs(page, seen):
    """Accepts every JupyterLab dialog open in ``page``, one after the other as JupyterLab shows them, adding
    each one's text to ``seen``."""
    while page.locator(".jp-Dialog").count():
        dialog = page.locator(".jp-Dialog").first.element_handle()  # this one, not whichever comes next
        seen.append(" ".join(dialog.inner_text().split()))
        dialog.query_selector(".jp-mod-accept").click(timeout=10_000)
        dialog.wait_for_element_state("hidden", timeout=10_000)  # a removed element counts as hidden


def wait_for_kernel(page, lab, seen, timeout_s=180):
    """Waits until the page has started the notebook's kernel and the kernel is idle. A dialog on the way is
    accepted: on a busy machine JupyterLab can ask which kernel to start (its kernel list comes late)."""
    deadline = time.monotonic() + timeout_s
    while not lab.kernel_ready(NOTEBOOK):
        accept_dialogs(page, seen)
        if time.monotonic() > deadline:
            pytest.fail(f"no idle kernel for {NOTEBOOK} after {timeout_s} s; dialogs: {seen}")
        page.wait_for_timeout(500)


def run_all(page, seen, tries=3):
    """Run > Run All Cells, again while no cell shows that it runs (a click while the page still settles
    can go nowhere). A dialog in the way, whenever it opens, is accepted, and named if all tries fail."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(tries):
        try:
            accept_dialogs(page, seen)
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click(timeout=10_000)
            page.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click(timeout=10_000)
            page.locator(".jp-InputPrompt", has_text="[*]").first.wait_for(state="attached", timeout=60_000)
            return
        except PlaywrightTimeout:
            accept_dialogs(page, seen)
            page.keyboard.press("Escape")  # a menu left open
    pytest.fail(f"Run All Cells did not start the notebook; dialogs: {seen}")


def test_a_drawn_seven_and_one_are_read_right(sync_playwright, lab):
    from playwright.sync_api import expect

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{lab.base}/lab/tree/{NOTEBOOK}?token={lab.token}")
            page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
            seen = []
            wait_for_kernel(page, lab, seen)
            run_all(page, seen)

            canvas = page.locator("canvas.mnistlib-canvas").first
            canvas.wait_for(timeout=RUN_ALL_TIMEOUT_MS)
            canvas.scroll_into_view_if_needed()
            reading = page.locator(".mnistlib-reading").first
            pad = page.locator(".mnistlib-drawing-pad").first

            draw(page, canvas, line((80, 60), (200, 60)) + line((200, 60), (120, 230))[1:])
            expect(reading).to_contain_text("the network reads:", timeout=READING_TIMEOUT_MS)
            top = reading.inner_text().split(":", 1)[1].strip()
            assert top.startswith("7 ("), reading.inner_text()
            if os.environ.get("MNISTLIB_SCREENSHOT"):
                pad.screenshot(path=os.environ["MNISTLIB_SCREENSHOT"])

            page.get_by_role("button", name="Clear").click()
            expect(reading).to_have_text("draw a digit", timeout=READING_TIMEOUT_MS)
            draw(page, canvas, line((140, 50), (140, 230)))
            expect(reading).to_contain_text("the network reads:", timeout=READING_TIMEOUT_MS)
            top = reading.inner_text().split(":", 1)[1].strip()
            assert top.startswith("1 ("), reading.inner_text()
        finally:
            browser.close()
