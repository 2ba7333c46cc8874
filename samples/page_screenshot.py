"""Screenshot of `bertvino serve`'s page with a model (default: the bundled one), for docs/images/page.png.

Starts `bertvino serve` on a free port, opens / in headless Chromium (Debian's, driven by Playwright: no
`playwright install`), types a review, submits, and saves the page once the label and the words are shown.

    python samples/page_screenshot.py [-m BUNDLE] [--text "..."] [--out docs/images/page.png]
"""

import argparse
import re
import subprocess
import sys
import tempfile

from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", default=None)
    parser.add_argument("--text", default="Terrible acting, but a wonderful, moving story.")
    parser.add_argument("--out", default="docs/images/page.png")
    args = parser.parse_args()
    model = ["-m", args.model] if args.model else []
    serve = subprocess.Popen([sys.executable, "-m", "bertvino", "serve", *model, "--port", "0"],
                             stderr=subprocess.PIPE, text=True)
    try:
        for line in serve.stderr:  # "serving model 'NAME' on http://HOST:PORT ..." once warmed up
            if match := re.search(r"on (http://\S+)", line):
                url = match.group(1)
                break
        else:
            sys.exit("bertvino serve did not start")
        with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
            browser = playwright.chromium.launch_persistent_context(
                profile, executable_path="/usr/bin/chromium", headless=True, args=ARGS,
                viewport={"width": 820, "height": 560})
            page = browser.new_page()
            page.goto(url + "/")
            page.fill("#text", args.text)
            page.click("#submit")
            page.wait_for_selector("#result:not([hidden])", timeout=60_000)
            page.screenshot(path=args.out, full_page=True)
            print(f"{page.inner_text('#label')} {page.inner_text('#probability')} -> {args.out}")
            browser.close()
    finally:
        serve.terminate()
        serve.wait(timeout=60)


if __name__ == "__main__":
    main()
