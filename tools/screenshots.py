"""Screenshots of ``rnnkit serve``'s page for the docs: each run served on a loopback port, its
form filled and run in headless Chromium (Playwright), the whole page saved as a PNG.

    python tools/screenshots.py runs/demo/sentiment runs/demo/forecast runs/demo/anomaly --out docs/screenshots
    python tools/screenshots.py runs/demo/index.html --out docs/screenshots   # the top of the tour's page (tour.png)

An anomaly run streams ``--points`` values of its own scores.csv (the series it scored) from ``--start``;
a forecast run forecasts from the end of its series; a sentiment run classifies two sentences.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(run_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "rnnkit", "serve", str(run_dir), "--port", str(port),
                                "--log-level", "warning"])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise TimeoutError(f"rnnkit serve {run_dir} did not answer within 120 s")


def fill(page, run_dir: Path, task: str, start: int, points: int) -> None:
    if task == "anomaly":
        with open(run_dir / "scores.csv", newline="") as handle:
            values = [row["data"] for row in csv.DictReader(handle)][start:start + points]
        page.fill("#input", "value\n" + "\n".join(values))
    elif task == "sentiment":
        page.fill("#input", "a gripping, beautifully acted film\nthe plot is thin and the jokes fall flat")
    page.click("#go")
    page.wait_for_selector("#output", timeout=120_000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="trained run folders, or the tour's index.html")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"), help="where the PNGs go")
    parser.add_argument("--start", type=int, default=0, help="the first value an anomaly run streams (default: 0)")
    parser.add_argument("--points", type=int, default=400, help="values an anomaly run streams (default: 400)")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        parser.error("chromium is not installed (make system-deps installs it)")
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for run_dir in args.runs:
            if run_dir.suffix == ".html":  # a page on disk: the tour's, its top (the whole page is several MB)
                page = browser.new_page(viewport={"width": 1100, "height": 1300})
                page.goto(run_dir.resolve().as_uri())
                path = args.out / "tour.png"
                page.screenshot(path=str(path))
                print(f"wrote {path}")
                continue
            process, url = serve(run_dir)
            try:
                task = httpx.get(url + "/info").json()["task"]
                page = browser.new_page(viewport={"width": 1100, "height": 900})
                page.goto(url + "/")
                page.wait_for_selector("#run:not(:empty)")
                fill(page, run_dir, task, args.start, args.points)
                path = args.out / f"serve-{task}.png"
                page.screenshot(path=str(path), full_page=True)
                print(f"wrote {path}")
            finally:
                process.terminate()
                process.wait(30)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
