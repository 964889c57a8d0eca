"""Take docs/screenshot.png: start the demo, animate a photo and preview its styles in headless chromium, photograph
the page.

    python scripts/screenshot_app.py --model ORG/deeplandscape-256          # or a local model folder
    python scripts/screenshot_app.py --model DIR --photo examples/mountains_clouds_01.jpg --style warm_sunset

Needs Debian chromium (``apt-get install chromium``) and the ``playwright`` Python package; it never downloads a
browser. The app runs as ``python app.py --model ...`` on a free port of 127.0.0.1 and is stopped afterwards.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
VIDEO_PLAYING_JS = """() => {
    const v = document.querySelector('#video video');
    return v !== null && v.duration > 0 && v.currentTime > 0.1 && !v.paused;
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"app.py exited with code {process.returncode}; see its output above.")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - local server
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise SystemExit(f"app.py did not answer on {url} within {timeout:.0f} s.")


def take_screenshot(url: str, args: argparse.Namespace) -> float:
    """Drive the page; returns the seconds the Animate request took."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"], headless=True)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(url)
        page.wait_for_selector("#animate")
        page.locator("#photo input[type=file]").first.set_input_files(str(args.photo))
        page.wait_for_selector("#overlay img", timeout=args.timeout * 1000)
        page.locator("#style input").click()
        page.get_by_role("option", name=args.style.replace("_", " "), exact=False).first.click()
        for elem_id, value in (("frames", args.frames), ("fps", args.fps)):
            box = page.locator(f"#{elem_id} input[type=number]")
            box.fill(str(value))
            box.press("Enter")
        page.get_by_label(args.preset, exact=True).check()
        started = time.perf_counter()
        page.locator("#animate").click()
        page.wait_for_function(VIDEO_PLAYING_JS, timeout=args.timeout * 1000)
        seconds = time.perf_counter() - started
        # The style gallery, rendered from the inversion the video just cached.
        page.locator("#preview-styles").dispatch_event("click")
        page.wait_for_function(
            "() => document.querySelectorAll('#style-previews img').length >= 2", timeout=args.timeout * 1000
        )
        page.wait_for_timeout(500)  # let the progress overlay fade and a later frame show
        page.mouse.move(0, 0)  # no hover effects in the picture
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=True, timeout=args.timeout * 1000)
        browser.close()
    # A 256-colour palette keeps the repository's copy small (about a third of the size) and UI text crisp.
    with Image.open(args.out) as shot:
        palette = shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette.save(args.out, optimize=True)
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="hub id or local model folder for app.py --model")
    parser.add_argument("--photo", type=Path, default=REPO_ROOT / "examples" / "mountains_clouds_01.jpg")
    parser.add_argument("--style", default="keep", help="a style the model offers, or keep")
    parser.add_argument("--preset", default="fast", choices=["fast", "balanced", "paper"])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshot.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the server and the video")
    args = parser.parse_args(argv)
    if args.style == "keep":
        args.style = "keep the photo's light"

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryDirectory(prefix="screenshot_app_") as scratch:
        env = {
            **os.environ,
            "GRADIO_SERVER_PORT": str(port),
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "GRADIO_TEMP_DIR": str(Path(scratch) / "gradio"),
            "GRADIO_EXAMPLES_CACHE": str(Path(scratch) / "examples"),
        }
        process = subprocess.Popen([sys.executable, str(REPO_ROOT / "app.py"), "--model", args.model], env=env)
        try:
            wait_until_serving(url, process, args.timeout)
            seconds = take_screenshot(url, args)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    print(f"wrote {args.out} (the Animate request took {seconds:.1f} s)")


if __name__ == "__main__":
    main()
