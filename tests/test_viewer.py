"""The dev stack's viewer (/_units/) in a real headless Chromium, driven by Playwright.

The browser is the system's (Debian's ``chromium`` package; ``make test`` installs it when
missing, through .ci/system-packages), never one Playwright downloads. Without it this test fails, saying how to install it: a skipped viewer
test would let a broken page land unseen.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.dev import DevStack
from runtime.dev.logs import LogHub
from tests.devapp import FILES, Client, edit, wait_for, write_dev_app


def _chromium() -> Path:
    """$UNITS_CHROMIUM, else the first Chromium on PATH (as .ci/system-packages looks)."""
    if os.environ.get("UNITS_CHROMIUM"):
        return Path(os.environ["UNITS_CHROMIUM"])
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return Path("/usr/bin/chromium")


CHROMIUM = _chromium()
# A closed network and a throwaway profile: nothing for the browser to phone home about.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Milliseconds the page gets to show something (it polls the API once a second).
SHOWS = 10_000


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"the viewer test needs Chromium at {CHROMIUM}: `make test` installs it "
            "(.ci/system-packages: apt-get install -y chromium), or set UNITS_CHROMIUM to one"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the viewer test needs Playwright: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        # launch_persistent_context is how Playwright takes a --user-data-dir: a fresh one.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def test_the_viewer_shows_processes_runs_their_history_and_a_parked_runs_error(
    tmp_path: Path, page: Any
) -> None:
    from playwright.sync_api import expect

    app = write_dev_app(tmp_path / "app")
    with DevStack(app, port=0, hub=LogHub(), watch_interval=0.05) as stack:
        client = Client(stack.url)
        pid = client.api(
            "POST", "processes/spawn", {"id": "app:counter", "host": "app:workers", "args": [5]}
        )["pid"]
        client.api("POST", "processes/send", {"dest": pid, "topic": "inc", "payload": 2})
        nap = client.api("POST", "workflows/start", {"id": "app:nap", "input": {"name": "ada"}})
        waiter = client.api(
            "POST", "workflows/start", {"id": "app:waiter", "input": {"name": "bo"}}
        )

        page.goto(stack.url + "/_units/")
        expect(page.locator("#loaded")).to_have_text("loaded", timeout=SHOWS)

        # Times: today's as a time, any other day's with its date (a timer due tomorrow).
        now, day = page.evaluate("Date.now() / 1000"), 86400
        assert re.fullmatch(r"\d\d:\d\d:\d\d", page.evaluate(f"when({now})"))
        for other in (now + day, now - 400 * day):
            shown = page.evaluate(f"when({other})")
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", shown), shown
        # Errors as kind: message, a parked run's unpacked by the API (ParkedError.message).
        error = {"kind": "Internal", "message": "order.lua:3: boom", "details": {"x": 1}}
        assert page.evaluate(f"errorText({json.dumps(error)})") == "Internal: order.lua:3: boom"
        parked = {"error": "UnitError", "cause": '{"errorType": "UnitError"}', "message": "m"}
        assert page.evaluate(f"parkedText({json.dumps(parked)})") == "m"

        # The actor: its row, then its state snapshot once clicked.
        row = page.locator(f'#processes tr[data-pid="{pid}"]')
        expect(row).to_contain_text("app:counter", timeout=SHOWS)
        expect(row).to_contain_text("running")
        row.click()
        detail = page.locator("#process-detail")
        expect(detail).to_contain_text(pid)
        expect(detail.locator("pre").first).to_have_text(re.compile(r'"n": 7'), timeout=SHOWS)

        # A loop process: its journal (generation, length, the inbox it has not read yet).
        napper = client.api(
            "POST", "processes/spawn", {"id": "app:napper", "host": "app:workers", "args": []}
        )["pid"]
        client.api("POST", "processes/send", {"dest": napper, "topic": "later", "payload": 1})
        wait_for(
            lambda: (
                (r := client.json("GET", f"/_units/api/processes/{napper}"))[0] == 200
                and r[1]["state"].get("inbox")
            ),
            "the napper's unread message",
        )
        loop_row = page.locator(f'#processes tr[data-pid="{napper}"]')
        expect(loop_row).to_contain_text("app:napper", timeout=SHOWS)
        loop_row.click()
        loop_detail = page.locator("#process-detail")
        expect(loop_detail).to_contain_text("loop (a main over a journal)", timeout=SHOWS)
        expect(loop_detail.locator("h4").first).to_have_text("journal")
        expect(loop_detail.locator("pre").first).to_contain_text('"topic": "later"')

        # The finished run: its status and its history as a timeline.
        nap_row = page.locator(f'#runs tr[data-run="{nap["run_id"]}"]')
        expect(nap_row).to_contain_text("completed", timeout=SHOWS)
        nap_row.click()
        timeline = page.locator("#run-detail .timeline li")
        expect(timeline).to_have_count(6, timeout=SHOWS)
        expect(timeline.nth(2)).to_have_attribute("data-type", "TimerFired")
        expect(timeline.nth(3)).to_contain_text("ActivityScheduled")
        expect(timeline.nth(3)).to_contain_text("app:greet")
        expect(page.locator("#run-detail")).to_contain_text('"text": "Hello, ada!"')

        # The waiting run, then a code change that contradicts its history: once signalled,
        # its step replays into a non-determinism error and the run is parked.
        wait_for(
            lambda: (
                client.api("GET", f"workflows/{waiter['run_id']}")["history"][-1]["type"]
                == "ActivityCompleted"
            ),
            "the waiter's activity",
        )
        page.locator(f'#runs tr[data-run="{waiter["run_id"]}"]').click()
        expect(page.locator("#run-detail .timeline li")).to_have_count(3, timeout=SHOWS)
        generation = client.api("GET", "status")["generation"]
        changed = FILES["waiter.lua"].replace(
            'local text = funcs.call("app:greet", input.name)',
            'time.sleep("1s")\n          local text = "slept"',
        )
        edit(app / "waiter.lua", changed)
        wait_for(
            lambda: client.api("GET", "status")["generation"] > generation, "the waiter's reload"
        )
        client.api("POST", f"workflows/{waiter['run_id']}/signal", {"topic": "go", "payload": 1})
        parked = page.locator("#run-detail .parked-error")
        expect(parked).to_contain_text("non-determinism", timeout=SHOWS)
        expect(parked).to_contain_text("app:greet")
        waiter_row = page.locator(f'#runs tr[data-run="{waiter["run_id"]}"]')
        expect(waiter_row).to_contain_text("parked")

        # A broken edit: the page says so, with the file and the Lua error.
        edit(app / "greet.lua", "return {")
        banner = page.locator("#status-error")
        expect(banner).to_be_visible(timeout=SHOWS)
        expect(banner).to_contain_text("greet.lua")
        expect(page.locator("#loaded")).to_have_text("error")

        # The log: the application's lines, by unit.
        expect(page.locator("#logs")).to_contain_text("greeting name=ada", timeout=SHOWS)
