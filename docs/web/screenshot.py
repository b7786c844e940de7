#!/usr/bin/env python3
"""Makes docs/web/index.png: the page that `cnnc export --web` writes, with
a digit drawn on its canvas by real mouse events and the model's answer.

    python3 docs/web/screenshot.py URL OUT.png

URL is a page served by `cnnc serve DIR` (see docs/web/screenshot.sh, which
trains, exports and serves first). Chromium's headless shell is driven over
the DevTools protocol on a pipe (--remote-debugging-pipe: JSON messages
ending in NUL on file descriptors 3 and 4), so nothing but Python's standard
library is needed. Its WebGPU runs on SwiftShader, so no GPU is needed.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# A 7, as a person draws it: the bar, then the stem, in canvas pixels (280x280).
STROKES = [
    [(70, 62), (110, 58), (150, 56), (196, 56), (208, 60)],
    [(208, 60), (190, 110), (170, 160), (152, 205), (140, 236)],
]


class Browser:
    def __init__(self, binary, profile):
        to_browser, self._to_browser = os.pipe()
        self._from_browser, from_browser = os.pipe()

        def as_fds_3_and_4():  # in the child: the browser reads fd 3, writes fd 4
            os.dup2(to_browser, 3)
            os.dup2(from_browser, 4)

        self.process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--enable-unsafe-webgpu",
             "--use-webgpu-adapter=swiftshader", "--remote-debugging-pipe",
             "--window-size=1000,1040", "--hide-scrollbars", f"--user-data-dir={profile}"],
            pass_fds=(3, 4), preexec_fn=as_fds_3_and_4,
            # Its own session: /usr/bin/chromium* are scripts that do not exec
            # the browser, whose processes are ended as a group below.
            start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._next, self._buffer, self.session = 0, b"", None

    def call(self, method, **params):
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._from_browser, 1 << 16)
                if not chunk:
                    raise RuntimeError("the browser closed the pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")


def main(url, out):
    binary = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(binary, profile)
        try:
            target = browser.call("Target.createTarget", url=url)["targetId"]
            browser.session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            # The model is loaded once the page says "Draw a digit."
            for _ in range(600):
                if browser.evaluate("document.getElementById('status')?.textContent") == "Draw a digit.":
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError("the page never became ready: " + str(browser.evaluate("document.body.innerText")))
            left, top = browser.evaluate(
                "(() => { const r = document.getElementById('canvas').getBoundingClientRect(); return [r.left, r.top]; })()")
            for stroke in STROKES:
                for i, (x, y) in enumerate(stroke):
                    kind = "mousePressed" if i == 0 else "mouseMoved"
                    for t in range(1 if i == 0 else 6):
                        # Points between the corners, as a hand moves.
                        px, py = (x, y) if i == 0 else (
                            stroke[i - 1][0] + (x - stroke[i - 1][0]) * (t + 1) / 6,
                            stroke[i - 1][1] + (y - stroke[i - 1][1]) * (t + 1) / 6)
                        browser.call("Input.dispatchMouseEvent", type=kind, x=left + px, y=top + py,
                                     button="left", buttons=1, clickCount=1)
                browser.call("Input.dispatchMouseEvent", type="mouseReleased", x=left + x, y=top + y,
                             button="left", clickCount=1)
            answer = None
            for _ in range(600):
                answer = browser.evaluate(
                    "document.getElementById('time').textContent && document.querySelector('#top li.first')?.innerText")
                if answer:
                    break
                time.sleep(0.1)
            time.sleep(1.0)  # the last prediction after the last stroke
            answer = browser.evaluate("document.querySelector('#top li.first').innerText")
            shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            with open(out, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            print(f"wrote {out}; the page's top class: {' '.join(answer.split())}")
        finally:
            os.killpg(browser.process.pid, signal.SIGKILL)
            browser.process.wait()


if __name__ == "__main__":
    main(*sys.argv[1:3])
