"""Open a DAG's trigger form in headless Chromium, save a screenshot, print the form's text.

    python scripts/trigger_form_screenshot.py http://127.0.0.1:8080 movies_migration /tmp/form.png

Drives Debian's ``chromium`` through the DevTools protocol (``websockets`` comes with Airflow): the form
is a dialog opened by the DAG page's Trigger button, which ``chromium --screenshot`` cannot click.
The window is tall so that every param shows without scrolling; the screenshot is of the form
alone. Fails when the form does not open.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

WINDOW = (1600, 3000)
# The page has other dialogs (the grid's options); the form is the one with the DAG's params.
FORM = "[...document.querySelectorAll('[role=dialog]')].find(d => d.innerText.includes('Run Parameters'))"
TRIGGER_BUTTON = "[...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Trigger')"


class Page:
    """One browser tab, spoken to with DevTools commands."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.last_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.last_id += 1
        self.socket.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.last_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message["result"])

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    def wait_for(self, expression: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not self.evaluate(f"Boolean({expression})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {seconds:.0f} s: {expression}")
            time.sleep(0.5)


def wait_until(what: Callable[[], Any], seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := what()):
        if time.monotonic() > deadline:
            raise TimeoutError("chromium did not start")
        time.sleep(0.2)
    return value


def main(base_url: str, dag_id: str, out: Path) -> int:
    with tempfile.TemporaryDirectory() as profile:
        browser = subprocess.Popen(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                f"--window-size={WINDOW[0]},{WINDOW[1]}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            port = wait_until(lambda: port_file.exists() and port_file.read_text().split("\n")[0], 30)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as answer:
                tab = next(target for target in json.load(answer) if target["type"] == "page")
            with connect(tab["webSocketDebuggerUrl"], max_size=None) as socket:
                page = Page(socket)
                page.call("Page.enable")
                page.call("Page.navigate", url=f"{base_url}/dags/{dag_id}")
                page.wait_for(TRIGGER_BUTTON)
                page.evaluate(f"{TRIGGER_BUTTON}.click()")
                page.wait_for(FORM)
                # The params render after the DAG's details arrive; let them settle.
                time.sleep(3)
                text = page.evaluate(f"{FORM}.innerText")
                box = page.evaluate(f"JSON.parse(JSON.stringify({FORM}.getBoundingClientRect()))")
                # The form alone, with a margin of the page around it.
                clip = {
                    "x": max(box["x"] - 20, 0),
                    "y": max(box["y"] - 20, 0),
                    "width": box["width"] + 40,
                    "height": box["height"] + 40,
                    "scale": 1,
                }
                image = page.call("Page.captureScreenshot", format="png", clip=clip)["data"]
                out.write_bytes(base64.b64decode(image))
        finally:
            browser.terminate()
            browser.wait(timeout=30)
    print(text)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
