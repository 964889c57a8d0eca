"""The demo in a real browser (headless Debian chromium driven by Playwright): upload, animate, play; bad uploads.

Needs `/usr/bin/chromium` (``apt-get install chromium``) and the ``playwright`` Python package; never runs
``playwright install`` (it downloads browsers). Skipped cleanly when either is missing. Run with ``-s`` to see the
measured wall time of one fast-preset request.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from app_helpers import REPO_ROOT, running_app
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("DEEPLANDSCAPE_CHROMIUM", "/usr/bin/chromium")
PHOTO = REPO_ROOT / "examples" / "lake_dock_01.jpg"
REQUEST_TIMEOUT_MS = 240_000

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

TOASTS_JS = """() => [...document.querySelectorAll('[data-testid="toast-body"]')]
    .map(t => ({kind: t.className, text: t.textContent.replace(/\\s+/g, ' ').trim()}))"""
VIDEO_READY_JS = """(previous) => {
    const v = document.querySelector('#video video');
    return v !== null && v.currentSrc !== '' && v.currentSrc !== previous && v.duration > 0;
}"""


@pytest.fixture(scope="module")
def app_url(tiny_app_model: Path, tmp_path_factory: pytest.TempPathFactory):
    with running_app(tiny_app_model, tmp_path_factory.mktemp("browser_app")) as app:
        yield app.url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_url: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.goto(app_url)
    page.wait_for_selector("#animate")
    yield page
    context.close()


def toasts(page, kind: str | None = None) -> list[str]:
    """Texts of the toasts on screen (``kind``: 'error', 'warning' or 'info')."""
    items = page.evaluate(TOASTS_JS)
    return [item["text"] for item in items if kind is None or kind in item["kind"].split()]


def wait_for_error(page) -> list[str]:
    """Wait for an error toast; returns the error texts, checked to be sentences and not stack traces."""
    page.wait_for_selector('[data-testid="toast-body"].error', timeout=60_000)
    errors = toasts(page, "error")
    assert errors and not any("Traceback" in text or 'File "' in text for text in errors), errors
    return errors


def fresh_page(page) -> None:
    """Reload: a new session, as a user trying another file would often do."""
    page.reload()
    page.wait_for_selector("#animate")


def upload(page, path: Path) -> None:
    """Put a file into the photo editor, replacing whatever is there."""
    clear = page.locator("#photo button[aria-label='Clear canvas']")
    if clear.count() and clear.first.is_enabled():
        clear.first.click()
    page.locator("#photo input[type=file]").first.set_input_files(str(path))


def set_number(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def choose(page, elem_id: str, label: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=label, exact=True).click()


def video_src(page) -> str:
    return page.evaluate("() => document.querySelector('#video video')?.currentSrc ?? ''")


def animate_and_wait(page) -> float:
    """Click Animate, wait until a new video is loaded and has a duration; returns the wall time in seconds."""
    previous = video_src(page)
    started = time.perf_counter()
    page.locator("#animate").click()
    page.wait_for_function(VIDEO_READY_JS, arg=previous, timeout=REQUEST_TIMEOUT_MS)
    return time.perf_counter() - started


def prepare_valid_request(page, style: str) -> None:
    upload(page, PHOTO)
    page.wait_for_selector("#overlay img", timeout=REQUEST_TIMEOUT_MS)  # the automatic mask preview
    choose(page, "style", style)
    set_number(page, "frames", 8)
    set_number(page, "fps", 10)


def test_animate_plays_and_bad_uploads_give_readable_errors(page, tmp_path: Path) -> None:
    # 1. A valid photo: the video loads, plays, and no error is shown.
    prepare_valid_request(page, "warm sunset")
    seconds = animate_and_wait(page)
    print(f"\nbrowser: one fast-preset request (tiny test model, 8 frames) took {seconds:.1f} s wall time")
    duration = page.evaluate("() => document.querySelector('#video video').duration")
    assert duration > 0
    page.wait_for_function(
        "() => { const v = document.querySelector('#video video'); return !v.paused && v.currentTime > 0; }",
        timeout=30_000,
    )
    assert toasts(page, "error") == []
    report = page.locator("#report").inner_text()
    print(f"browser: report: {report.splitlines()[0]}")
    assert "SSIM" in report and "frames" in report
    sync_api.expect(page.locator("#downloads")).to_contain_text(".gif")
    sync_api.expect(page.locator("#downloads")).to_contain_text(".mp4")

    # 2. A text file renamed .jpg: the browser cannot show it; animating says why, in a sentence.
    fake = tmp_path / "holiday.jpg"
    fake.write_text("this is a text file, not a photo\n")
    fresh_page(page)
    upload(page, fake)
    page.locator("#animate").click()
    errors = wait_for_error(page)
    assert any("could not open the file as an image" in text for text in errors), errors

    # 3. A 1x1 image: refused with the size rule, as soon as it is uploaded and again on Animate.
    tiny = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (90, 140, 220)).save(tiny)
    fresh_page(page)
    upload(page, tiny)
    errors = wait_for_error(page)
    assert any("1x1 pixels" in text and "at least 32 px" in text for text in errors), errors

    # 4. The server kept serving: the next valid request succeeds, with no error.
    fresh_page(page)
    prepare_valid_request(page, "blue hour")
    seconds = animate_and_wait(page)
    print(f"browser: the next valid request took {seconds:.1f} s")
    assert toasts(page, "error") == []
