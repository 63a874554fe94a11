"""Loads an HTML report in headless Chromium (through chromedriver) and prints what a reader
would see, as JSON, for the Rust test to check:

    check_page.py PAGE.html SCREENSHOT.png

Prints {"console_errors": [...], "flagged": [ids in table order], "sorted_ascending": [ids after
clicking the score header twice], "svg_plots": N, "bars": N, "verdict": "...", "what_if": [[t, n]]}.
Exit code 2 means the browser could not be started (the test reports that as skipped).
"""

import json
import os
import sys
import tempfile

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = os.environ.get("AUTOREVOKE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("AUTOREVOKE_CHROMEDRIVER", "/usr/bin/chromedriver")


def main() -> int:
    page, screenshot = sys.argv[1], sys.argv[2]
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # This machine's network is closed: keep Chromium from phoning home at start.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1600,1800",
        "--user-data-dir=" + tempfile.mkdtemp(prefix="autorevoke-chromium-"),
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    except WebDriverException as e:
        print(f"cannot start chromium: {e.msg}", file=sys.stderr)
        return 2
    try:
        driver.get("file://" + os.path.abspath(page))
        ids = lambda: [
            row.find_element(By.CSS_SELECTOR, "td.id").text
            for row in driver.find_elements(By.CSS_SELECTOR, "#flagged tbody tr")
        ]
        flagged = ids()
        score_header = driver.find_elements(By.CSS_SELECTOR, "#flagged thead th")[1]
        score_header.click()  # descending
        score_header.click()  # ascending
        sorted_ascending = ids()
        what_if = [
            [cell.text for cell in row.find_elements(By.TAG_NAME, "td")][:2]
            for row in driver.find_elements(By.CSS_SELECTOR, "#what-if tbody tr")
        ]
        result = {
            "console_errors": [
                entry["message"]
                for entry in driver.get_log("browser")
                if entry["level"] in ("SEVERE", "ERROR")
            ],
            "flagged": flagged,
            "sorted_ascending": sorted_ascending,
            "svg_plots": len(driver.find_elements(By.CSS_SELECTOR, "svg.plot")),
            "bars": len(driver.find_elements(By.CSS_SELECTOR, "#flagged-bars rect.seg0:not(.key)")),
            "verdict": driver.find_element(By.ID, "verdict").text,
            "what_if": what_if,
            # Rendered size of the score histogram: zero if the SVG did not lay out.
            "histogram_width": driver.find_element(By.ID, "score-histogram").size["width"],
            # The flagged table fits the page (no horizontal scrollbar at a desktop width).
            "table_scrolls": driver.execute_script(
                "var d = document.getElementById('flagged').parentElement;"
                "return d.scrollWidth > d.clientWidth;"
            ),
            # The table comes before the bars.
            "table_before_bars": driver.execute_script(
                "var t = document.getElementById('flagged'),"
                " b = document.getElementById('flagged-bars');"
                "return !!(t.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING);"
            ),
        }
        driver.save_screenshot(screenshot)
        print(json.dumps(result))
        return 0
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
