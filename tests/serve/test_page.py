"""The page of ``rnnkit serve`` in a real browser: headless Chromium (the Debian package, ``make
system-deps``) driven by Playwright, against a real server process on a loopback port. Each test
fills the task's form as a user would and checks what the page shows against the library."""

from __future__ import annotations

import shutil

import httpx
import numpy as np
import pytest

from rnnkit.tasks import sentiment

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make system-deps installs it)")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def open_page(browser, server):
    page = browser.new_page()
    page.set_default_timeout(120_000)  # a loaded CI machine (the other tests beside it) answers slowly
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url + "/")
    page.wait_for_selector("#run:not(:empty)")
    return page, errors


def test_the_page_shows_the_run_and_classifies_texts(trained, serve_process, browser):
    run_dir = trained("sentiment")
    server = serve_process(run_dir)
    page, errors = open_page(browser, server)
    assert page.title() == "rnnkit serve: sentiment"
    assert page.locator("#metrics-table tr").count() >= 1  # the report's test metrics
    assert "task" in page.locator("#config").text_content()  # config.yaml as trained
    texts = ["a fine film", "dull and slow"]
    page.fill("#input", "\n".join(texts))
    page.click("#go")
    page.wait_for_selector("#output")
    shown = page.locator("#output .label").all_text_contents()
    classifier = sentiment.load_classifier(run_dir)
    expected = [classifier.classes[int(i)] for i in classifier(texts).argmax(-1)]
    assert shown == expected
    page.fill("#input", "")
    page.click("#go")
    page.wait_for_selector("#error")
    assert "422" in page.locator("#error").text_content()  # the server's reason, shown
    assert errors == []


def test_a_csv_in_gives_the_forecast_plot_with_its_interval(trained, serve_process, browser):
    run_dir = trained("forecast", {"model": {"distribution": "gaussian"}})  # a model with an interval
    server = serve_process(run_dir)
    page, errors = open_page(browser, server)
    page.fill("#horizon", "3")
    page.click("#go")  # no CSV: from the end of the run's series
    page.wait_for_selector("#output")
    rows = page.locator("#output tr").all_text_contents()
    assert len(rows) == 1 + 3
    assert page.locator("svg polyline.series").count() == 2 and page.locator("svg polygon").count() == 1
    shown = [float(cell) for cell in page.locator("#output tr td:nth-child(2)").all_text_contents()]
    expected = httpx.post(server.url + "/forecast", json={"horizon": 3}).json()["point"]
    assert shown == pytest.approx([row[0] for row in expected], rel=1e-3)
    assert errors == []


def test_streamed_values_draw_their_anomaly_scores_live(trained, serve_process, browser):
    run_dir = trained("anomaly")
    server = serve_process(run_dir)
    page, errors = open_page(browser, server)
    values = np.sin(np.arange(30) / 3).round(4).tolist()
    page.fill("#input", "value\n" + "\n".join(map(str, values)))
    page.click("#go")
    page.wait_for_selector("#output")
    assert page.locator("#output").text_content().startswith("30 of 30 points streamed")
    assert page.locator("svg polyline.series").count() == 1
    whole = httpx.post(server.url + "/score", json={"values": values}).json()
    flagged = page.locator("svg circle.flag").count()
    assert flagged == sum(whole["flagged"])  # one point at a time gives what the whole series gives
    assert errors == []


@pytest.mark.parametrize("task, path, body, fill", [
    ("language", "/generate", {"prompt": "the ", "length": 12, "temperature": 0.8, "seed": 1},
     {"#input": "the ", "#length": "12"}),
    ("translate", "/translate", {"texts": ["abc", "ba"]}, {"#input": "abc\nba"}),
])
def test_text_in_text_out(trained, serve_process, browser, task, path, body, fill):
    """The language run's continuation, the translation run's outputs: what the endpoint gives."""
    server = serve_process(trained(task))
    page, errors = open_page(browser, server)
    for selector, value in fill.items():
        page.fill(selector, value)
    page.click("#go")
    page.wait_for_selector("#output")
    reply = httpx.post(server.url + path, json=body).json()
    expected = reply["text"] if task == "language" else "\n".join(reply["outputs"])
    assert page.locator("#output").text_content() == expected
    assert errors == []


def test_a_wav_in_gives_its_transcript(trained, serve_process, browser):
    run_dir = trained("speech")
    wav = min(run_dir.parent.glob("*.wav"))  # one of the tiny run's own clips
    server = serve_process(run_dir)
    page, errors = open_page(browser, server)
    page.click("#go")  # no file yet: the page says what it needs
    page.wait_for_selector("#error")
    assert "choose a WAV file first" in page.locator("#error").text_content()
    page.set_input_files("#file", str(wav))
    page.click("#go")
    page.wait_for_selector("#output")
    expected = httpx.post(server.url + "/transcribe", content=wav.read_bytes(),
                          headers={"Content-Type": "audio/wav"}).json()["text"]
    assert page.locator("#output").text_content() == expected
    assert errors == []
