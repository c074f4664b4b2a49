"""A person using WebDialer in headless Chromium (Playwright): log in (a wrong password
first), set preferences, dial, hang up, come back without logging in again, go through the
Redirector (its self-submitting login form, then its cookie), then the seed's two messages
(Extension Mobility without a login, dialled by the page itself when call confirmation is off;
a user without a phone).

Usage: browser.py BASE_URL USER PASSWORD SIGNAL_DIR
The test watches the phones: this script writes SIGNAL_DIR/dialled once it has dialled and
waits for SIGNAL_DIR/connected before pressing Hang Up. Prints a JSON report.
"""
import json
import os
import sys
import time

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def wait_for(path, seconds=30):
    deadline = time.time() + seconds
    while not os.path.exists(path):
        if time.time() > deadline:
            raise SystemExit(f"timed out waiting for {path}")
        time.sleep(0.05)


def main():
    base, user, password, signals = sys.argv[1:5]
    report = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_ARGS
        )
        context = browser.new_context(ignore_https_errors=True)
        page = context.new_page()
        page.set_default_timeout(15000)

        # The link a web page would carry.
        page.goto(f"{base}/webdialer/Webdialer?destination=1001")
        page.fill("#user", user)
        page.fill("#password", "not-the-password")
        page.click("button[type=submit]")
        report["wrong_password"] = "Authentication error" in page.inner_text(".error")
        page.fill("#user", user)
        page.fill("#password", password)
        page.click("button[type=submit]")

        # Preferences: the permanent device and its line; keep the call window open.
        assert "Cisco WebDialer Preferences" in page.inner_text("h1"), page.content()
        page.check("#permanent")
        page.select_option("#device", "SEP00DE00001000")
        page.select_option("#line", "1000")
        page.check("#dontAutoClose")
        page.click("button[type=submit]")

        # The dial page, with the destination from the link.
        assert page.inner_text("h1").startswith("Make Call"), page.content()
        assert page.input_value("#destination") == "1001"
        page.click("#dial button[type=submit]")
        dialled = page.inner_text("h1")
        with open(os.path.join(signals, "dialled"), "w") as f:
            f.write(dialled)
        wait_for(os.path.join(signals, "connected"))
        page.click("button.danger")
        report["hung_up"] = page.inner_text(".ok")
        wait_for(os.path.join(signals, "ended"))

        # Another click-to-call link: the session cookie means no login.
        page.goto(f"{base}/webdialer/Webdialer?destination=1002")
        report["remembered"] = page.inner_text("h1").startswith("Make Call")

        # The Redirector (its List of WebDialers names this node): one login there, the page
        # hands it on by itself, and the user lands on the dial page logged in.
        via = browser.new_context(ignore_https_errors=True).new_page()
        via.set_default_timeout(15000)
        via.goto(f"{base}/webdialer/Redirector?destination=1003")
        via.fill("#user", user)
        via.fill("#password", password)
        via.click("button[type=submit]")
        via.wait_for_url("**/webdialer/Webdialer?destination=1003")
        report["redirected"] = via.inner_text("h1").startswith("Make Call") and via.input_value("#destination") == "1003"
        # Next click: the Redirector remembers the user and redirects at once.
        via.goto(f"{base}/webdialer/Redirector?destination=1004")
        via.wait_for_url("**/webdialer/Webdialer?destination=1004")
        report["redirected_again"] = via.input_value("#destination") == "1004"

        # "Use Extension Mobility" while logged in nowhere, and "Do not display call
        # confirmation": saving goes to the Make Call page, which dials by itself.
        page.goto(f"{base}/webdialer/Webdialer?preferences=1&destination=1001")
        page.check("#em")
        page.check("#dontShowCallConf")
        page.click("button[type=submit]")
        report["em_message"] = page.inner_text(".error")

        # A user with no phone.
        other = browser.new_context(ignore_https_errors=True).new_page()
        other.set_default_timeout(15000)
        other.goto(f"{base}/webdialer/Webdialer?destination=1001")
        other.fill("#user", "nophone")
        other.fill("#password", "nophone-pw-1")
        other.click("button[type=submit]")
        other.check("#permanent")
        other.click("button[type=submit]")
        other.click("#dial button[type=submit]")
        report["no_device_message"] = other.inner_text(".error")
        browser.close()
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
