"""The status page in a real browser: Debian's headless Chromium driven by Selenium through
/usr/bin/chromedriver (never a downloaded driver), against forgebot serve's protocol on loopback.

Skipped, saying why, where Chromium or its driver is not installed (`.ci/run` installs both).
Screenshots go to the test's temporary folder, or to STATUS_SCREENSHOTS when it names one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, World
from tests.test_mcp import serving

pytestmark = pytest.mark.anyio

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
VIEWER = "viewer-token-0123456789"
PHONE = (390, 844)
DESKTOP = (1280, 900)

needs_chromium = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
    reason="browser tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; .ci/run does)",
)


def browser(profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 f"--window-size={DESKTOP[0]},{DESKTOP[1]}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def at_width(driver: Any, size: tuple[int, int], mobile: bool) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": mobile})
    driver.refresh()


def scrolls_sideways(driver: Any) -> bool:
    return bool(driver.execute_script("return document.documentElement.scrollWidth > window.innerWidth"))


def answers(url: str, cookie: str | None) -> int:
    request = urllib.request.Request(url, headers={"cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # a redirect is followed, as a click would
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def browse(base: str, profile: Path, shots: Path, issues: dict[str, int]) -> dict[str, Any]:
    """Everything the browser does, in one thread (Selenium blocks); returns what it saw."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    seen: dict[str, Any] = {}
    driver = browser(profile)
    try:
        driver.get(f"{base}/status")
        seen["sign_in_url"] = driver.current_url
        driver.find_element(By.ID, "token").send_keys(VIEWER)
        driver.find_element(By.CSS_SELECTOR, "form.signin button").click()
        # The click returns before the next page has loaded: wait for it (or for the form's error).
        WebDriverWait(driver, 30).until(
            lambda d: d.current_url == f"{base}/status" or d.find_elements(By.CSS_SELECTOR, "p.error"))
        seen["after_sign_in"] = driver.current_url
        body = driver.find_element(By.TAG_NAME, "body").text
        seen["body"] = body
        cookie = driver.get_cookie("forgebot_status")
        seen["cookie"] = cookie
        session = f"forgebot_status={cookie['value']}" if cookie else None

        links = {a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "a[href]")}
        links.discard(None)
        seen["links"] = {}
        for link in sorted(links):
            if "#" in link and link.split("#", 1)[0] == driver.current_url.split("#", 1)[0]:
                fragment = link.split("#", 1)[1]
                seen["links"][link] = 200 if driver.find_elements(By.ID, fragment) else 404
            else:
                seen["links"][link] = answers(link, session if link.startswith(base) else None)

        seen["errors"] = console_errors(driver)
        at_width(driver, DESKTOP, mobile=False)
        seen["desktop_sideways"] = scrolls_sideways(driver)
        driver.save_screenshot(str(shots / "status-desktop.png"))
        at_width(driver, PHONE, mobile=True)
        seen["phone_sideways"] = scrolls_sideways(driver)
        driver.save_screenshot(str(shots / "status-phone.png"))

        driver.get(f"{base}/status/help")
        seen["help_phone_sideways"] = scrolls_sideways(driver)
        seen["help_body"] = driver.find_element(By.TAG_NAME, "body").text
        driver.save_screenshot(str(shots / "help-phone.png"))
        seen["errors"] += console_errors(driver)
    finally:
        driver.quit()
    return seen


@needs_chromium
async def test_the_status_page_in_chromium(world: World, tmp_path: Path) -> None:
    shots = Path(os.environ.get("STATUS_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    async with world.fake.serve() as forge_url:  # issue links then lead to the emulator's pages on loopback
        async with serving(world, tmp_path, viewer_tokens=VIEWER) as (app, mcp_url):
            base = mcp_url.removesuffix("/mcp")
            held = await world.actor("bob").open_issue(REPO, "Polish the widgets")
            ready = await world.actor("bob").open_issue(REPO, "Document the widgets")
            waiting = await world.actor("bob").open_issue(REPO, "Ship the widgets", body=f"Depends on #{ready}")
            await app.wait_idle()
            async with httpx.AsyncClient(base_url=base) as http:  # the claim a moment before, over the agent API
                claimed = await http.post(f"/api/repos/{REPO}/issues/{held}/claim",
                                          headers={"authorization": "Bearer mcp-token-of-alice-0123456789"})
                assert claimed.status_code == 200
            seen = await asyncio.to_thread(browse, base, tmp_path / "profile", shots,
                                           {"held": held, "ready": ready, "waiting": waiting})

    assert seen["sign_in_url"] == f"{base}/status/signin" and seen["after_sign_in"] == f"{base}/status"
    assert seen["cookie"]["httpOnly"] is True and seen["cookie"]["sameSite"] == "Strict"
    body = seen["body"]
    assert f"#{held}\t@alice" in body or f"#{held} @alice" in body, body
    assert f"#{ready} Document the widgets" in body and f"#{waiting} Ship the widgets" in body
    assert f"{forge_url}/{REPO}/issues/{ready}" in seen["links"]
    assert seen["links"] and all(status == 200 for status in seen["links"].values()), seen["links"]
    assert seen["errors"] == []
    assert not seen["desktop_sideways"] and not seen["phone_sideways"] and not seen["help_phone_sideways"]
    assert "/claim [DURATION]" in seen["help_body"]
    assert (shots / "status-phone.png").stat().st_size > 0 and (shots / "status-desktop.png").stat().st_size > 0
