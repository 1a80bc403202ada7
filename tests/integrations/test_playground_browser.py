"""The playground end to end in a real headless browser: Debian's chromium
driven by playwright (no browser download).  Load the page, press Play, wait
for the epoch count to rise and the test loss to fall, no console errors, a
screenshot.

``FASTMLP_PLAYGROUND_SCREENSHOT=docs/_static/playground.png python -m pytest
tests/test_playground_browser.py`` writes the README's screenshot.
"""
import os
import re
import threading
import time

import pytest

from fastmlp.playground import make_server

CHROMIUM = "/usr/bin/chromium"
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"no browser at {CHROMIUM} (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def server():
    server = make_server(port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


def loss(page):
    text = page.locator("#test_loss").text_content()
    return float(text) if re.fullmatch(r"[0-9.]+", text) else None


def test_play_trains_and_draws(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "#features=x1,x2&hidden=4,2&activation=tanh,tanh")
    assert page.locator("canvas#boundary").count() == 1
    assert page.locator("#epoch").text_content() == "000,000"
    page.get_by_role("button", name="Play").click()
    pause = page.get_by_role("button", name="Pause")
    pause.wait_for(timeout=30_000)
    page.wait_for_function(
        "parseInt(document.getElementById('epoch').textContent.replace(/,/g, '')) >= 3",
        timeout=60_000,
    )
    first = loss(page)
    assert first is not None
    page.wait_for_function(
        f"parseFloat(document.getElementById('test_loss').textContent) < {first} * 0.8",
        timeout=120_000,
    )
    page.locator("#code_details").evaluate("e => e.open = true")
    page.wait_for_function(
        "document.getElementById('epoch').textContent.replace(/,/g, '') > '000100'",
        timeout=120_000,
    )
    pause.click()
    page.get_by_role("button", name="Play").wait_for(timeout=30_000)
    # hovering a neuron shows it on the big canvas
    page.locator(".node.hidden canvas").first.hover()
    assert "layer 1, neuron 1" in page.locator("#hover_label").text_content()
    page.mouse.move(0, 0)
    # the setup is in the URL and the code panel
    assert "hidden=4%2C2" in page.url
    page.wait_for_function("document.getElementById('code').textContent.includes('partial_fit')")
    assert page.evaluate("window.fastmlpPlayground.framesRendered") > 10
    path = os.environ.get("FASTMLP_PLAYGROUND_SCREENSHOT") or str(tmp_path / "playground.png")
    time.sleep(0.3)
    page.screenshot(path=path, full_page=True)
    assert os.path.getsize(path) > 10_000
    assert not errors, errors
    page.close()


def test_bad_value_shows_the_message(server, browser):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "#learning_rate=-1")  # refused: the page falls back to the defaults
    message = page.locator("#message")
    message.wait_for(state="visible", timeout=30_000)
    assert "learning_rate_init" in message.text_content()
    page.wait_for_function("window.fastmlpPlayground.session !== null", timeout=30_000)
    assert page.locator("#learning_rate").input_value() == "0.03"
    assert not errors, errors
    page.close()


def test_link_reproduces_a_setup(server, browser):
    page = browser.new_page()
    page.goto(server.url + "#problem=regression&dataset=multi_gaussian&hidden=8,8,8"
              "&activation=gelu,elu,swish&dropout=0,0,0&batch_norm=1,0,0&solver=adam")
    page.wait_for_function("window.fastmlpPlayground.session !== null", timeout=30_000)
    config = page.evaluate("window.fastmlpPlayground.config")
    assert config["dataset"] == "multi_gaussian" and config["hidden"] == [8, 8, 8]
    assert config["activation"] == ["gelu", "elu", "swish"] and config["batch_norm"][0] is True
    assert page.locator(".node.hidden").count() == 24
    page.get_by_role("button", name="Step").click()
    page.wait_for_function("document.getElementById('epoch').textContent === '000,001'")
    page.close()
