#!/usr/bin/env python
"""
A picture of the attention viewer (``tools/attention_maps.py --html``) as a person sees it: the
viewer file opened in headless Chromium (Debian's ``chromium`` and ``chromium-driver``, which
``python tools/setup_env.py --browser`` installs), a click on one image point, the window saved
as a PNG:

    python benchmarks/viewer_screenshot.py output/viewer/0001_attention.html \\
        --click 455 31 --window 1100 520 --output docs/images/lookup_viewer.png
"""

import argparse
import os
import pathlib
import time

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def screenshot(viewer, point, output, window=(1400, 1100)):
    """Open ``viewer`` (a path), click image pixel ``point`` (x, y), save the window to
    ``output``; returns the viewer's state after the click (its query, each block's map)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={window[0]},{window[1]}")
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(pathlib.Path(viewer).resolve().as_uri())
        for _ in range(100):
            if driver.execute_script("return window.nlViewer && window.nlViewer.ready"):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"{viewer}: the viewer never got ready: {driver.get_log('browser')}")
        canvas = driver.find_element(By.ID, "main")
        width = driver.execute_script("return window.nlViewer.data.width")
        scale = canvas.size["width"] / width
        # offsets are from the canvas's centre, in whole pixels
        dx = point[0] * scale - canvas.size["width"] / 2
        dy = point[1] * scale - canvas.size["height"] / 2
        ActionChains(driver).move_to_element_with_offset(
            canvas, round(dx), round(dy)
        ).click().perform()
        state = driver.execute_script("return window.nlViewer.state")
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        driver.save_screenshot(output)
        return state
    finally:
        driver.quit()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("viewer", help="an HTML file of tools/attention_maps.py --html")
    parser.add_argument("--click", nargs=2, type=float, required=True, metavar=("X", "Y"))
    parser.add_argument("--output", required=True, help="the PNG to write")
    parser.add_argument(
        "--window",
        nargs=2,
        type=int,
        default=(1400, 1100),
        metavar=("W", "H"),
        help="the browser window, which the PNG is (default 1400 1100)",
    )
    args = parser.parse_args(argv)
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            parser.error(f"{path} is missing: python tools/setup_env.py --browser installs it")
    state = screenshot(args.viewer, args.click, args.output, args.window)
    print(f"clicked {state['query']}; wrote {args.output}")


if __name__ == "__main__":
    main()
