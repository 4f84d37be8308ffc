"""Pages work on a 360 px wide phone (and on a desktop): real headless Chromium, driven over the
DevTools protocol, against a real uvicorn server with a seeded world and a logged-in rep.

Skips when Chromium is not installed, and fails instead when CI=true. With
PODIUM_SAVE_SCREENSHOTS=1 it also saves the dashboard at 360 px to docs/dashboard-mobile.png.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from websockets.asyncio.client import ClientConnection, connect

from app.accounts import start_session
from app.claims import submit_claim
from app.db import Database
from app.ingest import ingest_events
from app.models import User
from tests.app.test_claims import _form, _people, _program
from tests.app.test_live import NOW, app_for, serving
from tests.factories import sale

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "dashboard-mobile.png"
TIMEOUT = 30.0  # a cold Chromium start on a busy machine takes a few seconds
PAGES = [
    "/",
    "/boards",
    "/boards?audience=partners",
    "/boards?scope=region:JKT&metric=revenue",
    "/boards/history",
    "/participants/R00000",
    "/participants/PT000",
    "/claims",
    "/profile",
    "/rules",
]
# What the page looks like to the test: how wide the document scrolls, and every element with
# text of its own that is wider than the viewport (a long name, a table, a row of buttons).
MEASURE = """(() => {
  const vw = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const text = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!text) continue;
    const box = el.getBoundingClientRect();
    if (box.width > vw + 0.5) wide.push(`${el.tagName.toLowerCase()}.${el.className}: ${Math.round(box.width)}px "${el.textContent.trim().slice(0, 40)}"`);
  }
  return JSON.stringify({viewport: vw, scrollWidth: document.documentElement.scrollWidth, wide});
})()"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def chromium() -> str:
    """The Chromium binary, or skip (fail on CI) saying how to get one."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "the mobile layout tests need Chromium (Debian: apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}: on CI they must run, not skip")
    pytest.skip(message)


class DevTools:
    """A minimal DevTools protocol client: commands by id, events kept until waited for."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.last_id = 0
        self.events: list[dict[str, Any]] = []

    async def send(self, method: str, session: str | None = None, **params: Any) -> Any:
        self.last_id += 1
        sent = self.last_id
        message: dict[str, Any] = {"id": sent, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        await self.ws.send(json.dumps(message))
        async with asyncio.timeout(TIMEOUT):
            while True:
                reply = json.loads(await self.ws.recv())
                if reply.get("id") == sent:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
                self.events.append(reply)

    async def event(self, method: str, session: str) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                for i, seen in enumerate(self.events):
                    if seen.get("method") == method and seen.get("sessionId") == session:
                        return self.events.pop(i)
                self.events.append(json.loads(await self.ws.recv()))

    async def evaluate(self, session: str, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate",
            session,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        return result["result"].get("value")


@contextlib.contextmanager
def browser(binary: str) -> Iterator[str]:
    """Start headless Chromium on a free DevTools port; yield its browser websocket URL."""
    with tempfile.TemporaryDirectory() as profile:
        process = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-gpu",
                "--disable-extensions",
                "--hide-scrollbars",
                # Containers run tests as root, where Chromium refuses its sandbox.
                *(["--no-sandbox"] if os.geteuid() == 0 else []),
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its helper processes too, so all of them can be ended
        )
        try:
            active = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + TIMEOUT
            while not (active.exists() and len(active.read_text().splitlines()) >= 2):
                assert process.poll() is None, "Chromium exited at start"
                assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
                time.sleep(0.05)
            port, path = active.read_text().splitlines()[:2]
            yield f"ws://127.0.0.1:{port}{path}"
        finally:
            _end_group(process)


def _end_group(process: subprocess.Popen[bytes]) -> None:
    """End Chromium and every helper it started. Helpers outlive the main process for a
    moment and keep writing into the profile, which then cannot be removed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # whatever is left of the group
        except ProcessLookupError:
            break  # none left
        time.sleep(0.05)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(1)


@contextlib.asynccontextmanager
async def tab(url: str) -> AsyncIterator[tuple[DevTools, str]]:
    async with connect(url, max_size=None, open_timeout=TIMEOUT) as ws:
        tools = DevTools(ws)
        target = await tools.send("Target.createTarget", url="about:blank")
        attached = await tools.send(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        session = attached["sessionId"]
        await tools.send("Page.enable", session)
        yield tools, session


async def visit(tools: DevTools, session: str, url: str) -> None:
    tools.events.clear()
    await tools.send("Page.navigate", session, url=url)
    await tools.event("Page.loadEventFired", session)
    await tools.evaluate(session, "document.fonts.ready.then(() => true)")


def _seed(db: Database) -> str:
    """A world with sales, claims and long names; returns the rep's session token."""
    users = _people(db)
    program = _program(db)
    ingest_events(
        db,
        program,
        "erp",
        [
            sale("a", units=12, rep="R00000"),
            sale("b", units=30, rep="R00001", amount=125_000_000),
            sale("c", units=7, partner="PT001", rep="R00100"),
            sale("d", units=2, rep="R00000", occurred_at="2026-10-20T10:00:00+07:00"),
        ],
        NOW,
    )
    submit_claim(db, program, users["rep"], _form(invoice="INV-2026/11/000123-JKT-SELATAN"), NOW)
    with db.write() as s:
        # Long unbroken words are what push a phone layout sideways.
        s.execute(
            sa.text("UPDATE partner SET name = :n WHERE code = 'PT000'"),
            {"n": "PT Sumber Elektronik Sejahtera Abadi Jayakartaraya Nusantara"},
        )
        s.execute(
            sa.text("UPDATE rep SET name = :n WHERE code = 'R00000'"),
            {"n": "Bambang Setiawan Kusumawardhanahadiningrat"},
        )
        user = s.execute(sa.select(User).where(User.email == "rep@example.com")).scalar_one()
        return start_session(s, user, NOW)


@pytest.mark.parametrize(("width", "mobile"), [(360, True), (1280, False)])
async def test_main_pages_fit_the_screen_without_sideways_scrolling(
    sqlite_db: Database, width: int, mobile: bool
) -> None:
    binary = chromium()
    token = _seed(sqlite_db)
    problems: dict[str, Any] = {}
    with serving(app_for(sqlite_db)) as host, browser(binary) as devtools:
        async with tab(devtools) as (tools, session):
            await tools.send(
                "Network.setCookie",
                session,
                name="podium_session",
                value=token,
                url=f"http://{host}/",
                httpOnly=True,
            )
            await tools.send(
                "Emulation.setDeviceMetricsOverride",
                session,
                width=width,
                height=800,
                deviceScaleFactor=2 if mobile else 1,
                mobile=mobile,
            )
            for path in PAGES:
                await visit(tools, session, f"http://{host}{path}")
                seen = json.loads(await tools.evaluate(session, MEASURE))
                assert seen["viewport"] == width, (path, seen)
                assert "Log out" in await tools.evaluate(session, "document.body.innerText")
                if seen["scrollWidth"] > width or seen["wide"]:
                    problems[path] = seen
            if mobile and os.environ.get("PODIUM_SAVE_SCREENSHOTS") == "1":
                await visit(tools, session, f"http://{host}/")
                await _save_screenshot(tools, session, width)
    assert not problems, f"pages wider than {width}px: {json.dumps(problems, indent=1)}"


async def _save_screenshot(tools: DevTools, session: str, width: int) -> None:
    metrics = await tools.send("Page.getLayoutMetrics", session)
    height = int(metrics["cssContentSize"]["height"])
    shot = await tools.send(
        "Page.captureScreenshot",
        session,
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
    )
    SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))
