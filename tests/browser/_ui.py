"""Driving the Airflow 3 UI as a person does: headless Chromium through Selenium and Debian's chromedriver.

Every wait is for an element or a state, never a fixed pause. Selenium is imported here and only
here, so that collecting the other tests never needs it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the fixture below fails with what to run
    webdriver = None

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL_HINT = "`make test-browser` installs it (Debian's chromium and chromium-driver, requirements/browser.txt)"
# Without the background-networking flags Chromium reaches out to Google's services, and this
# machine's closed network refuses those connections; a fresh profile per run keeps runs apart.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,1900", "--force-device-scale-factor=1")
WAIT = 60  # seconds an element may take to appear: the machine is small and busy


def start_chromium(profile: Path):
    if webdriver is None:
        pytest.fail(f"selenium is not installed: {INSTALL_HINT}")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing: {INSTALL_HINT}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    # Both paths given: Selenium Manager, which would look for or download a driver, never runs.
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def wait(driver, timeout: float = WAIT):
    return WebDriverWait(driver, timeout)


def sign_in(driver, url: str, user: str, password: str) -> None:
    """Open the UI and sign in on the auth manager's login page (none when all are admins)."""
    driver.get(f"{url}/")
    page = wait(driver).until(lambda d: d.find_elements(By.NAME, "username") or d.find_elements(
        By.XPATH, "//nav//*[normalize-space()='Admin']"))
    if page[0].get_attribute("name") == "username":
        page[0].send_keys(user)
        field = driver.find_element(By.NAME, "password")
        field.send_keys(password)
        field.send_keys(Keys.ENTER)
        wait(driver).until(lambda d: "/login" not in d.current_url)
    wait(driver).until(lambda d: d.get_cookie("_token"))


def api_token(driver) -> str:
    """The UI's own JWT (its ``_token`` cookie), for REST calls as the signed-in user."""
    return driver.get_cookie("_token")["value"]


def open_add_connection_form(driver, url: str, type_name: str):
    """Admin -> Connections -> Add Connection, choose the type; the dialog."""
    driver.get(f"{url}/connections")
    wait(driver).until(ec.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Add Connection']"))).click()
    dialog = wait(driver).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "[role=dialog]")))
    combo = dialog.find_element(By.CSS_SELECTOR, "input[role=combobox]")
    combo.send_keys(type_name)
    options = wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[role=option]"))
    assert type_name in [option.text for option in options], f"{type_name!r} is not a connection type offered"
    combo.send_keys(Keys.ENTER)
    wait(driver).until(ec.visibility_of_element_located((By.NAME, "host")))
    return dialog


def open_section(driver, dialog, title: str) -> None:
    """Open one of the form's accordion sections (Standard Fields, Extra Fields, ...)."""
    xpath = f".//button[@data-part='item-trigger'][normalize-space()='{title}']"
    trigger = dialog.find_element(By.XPATH, xpath)
    if trigger.get_attribute("aria-expanded") != "true":
        trigger.click()

    def shown(_driver) -> bool:
        trigger = dialog.find_element(By.XPATH, xpath)
        content = dialog.find_element(By.ID, trigger.get_attribute("aria-controls"))
        return trigger.get_attribute("aria-expanded") == "true" and content.is_displayed()

    wait(driver).until(shown)


class Field:
    """One labelled field of the form: its label, helper text, required mark and input."""

    def __init__(self, dialog, name: str) -> None:
        self.name = name
        found = dialog.find_elements(By.NAME, name)
        if not found:
            pytest.fail(f"the form has no field named {name!r}")
        self.input = found[0]
        self.root = self.input.find_element(
            By.XPATH, "./ancestor::div[@data-scope='field' and @data-part='root'][1]")

    @property
    def label(self) -> str:
        return self.root.find_element(By.TAG_NAME, "label").text.replace("*", "").strip()

    @property
    def required(self) -> bool:
        return self.root.find_element(By.TAG_NAME, "label").get_attribute("data-required") is not None

    @property
    def helper(self) -> str:
        helpers = self.root.find_elements(By.CSS_SELECTOR, "[data-part=helper-text]")
        return helpers[0].text if helpers else ""

    @property
    def combobox(self):
        """The react-select input of an enum field (its named input is a hidden one)."""
        boxes = self.root.find_elements(By.CSS_SELECTOR, "input[role=combobox]")
        return boxes[0] if boxes else None

    @property
    def visible_input(self):
        return self.combobox or self.input


def type_into(field: Field, text: str) -> None:
    box = field.visible_input
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(text)
    if field.combobox is not None:
        box.send_keys(Keys.ENTER)


def paste_into(driver, field: Field, text: str, origin: str) -> None:
    """Paste through the clipboard, as a user pastes a multi-line PEM key into the field."""
    driver.execute_cdp_cmd("Browser.grantPermissions", {
        "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"], "origin": origin})
    copied = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "navigator.clipboard.writeText(arguments[0]).then(() => done('ok'), e => done(String(e)));", text)
    assert copied == "ok", f"could not write the clipboard: {copied}"
    field.input.click()
    field.input.send_keys(Keys.CONTROL, "v")
    wait(driver).until(lambda d: field.input.get_attribute("value"))


def screenshot(driver, element, path: Path) -> None:
    """A PNG of the element (or of the top of the page, 1280x800), with no field focused."""
    driver.execute_script("if (document.activeElement) document.activeElement.blur();")
    if element is not None:
        element.screenshot(str(path))
        return
    size = driver.get_window_size()
    driver.set_window_size(1280, 800)
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(size["width"], size["height"])


def field_errors(dialog) -> dict[str, str]:
    """label -> error text, for every field the form refuses as it is."""
    errors = {}
    for text in dialog.find_elements(By.CSS_SELECTOR, "[data-scope=field][data-part=error-text]"):
        root = text.find_element(By.XPATH, "./ancestor::div[@data-scope='field' and @data-part='root'][1]")
        errors[root.find_element(By.TAG_NAME, "label").get_attribute("textContent").replace("*", "").strip()] = (
            text.get_attribute("textContent"))
    return errors


def save(driver, dialog) -> None:
    """Press Save; fail naming each refused field when the form will not save."""
    button = dialog.find_element(By.XPATH, ".//button[normalize-space()='Save']")
    try:
        wait(driver, 10).until(lambda d: button.is_enabled())
    except TimeoutException:
        pytest.fail(f"the form will not save: {field_errors(dialog) or 'Save stays disabled'}")
    button.click()
    wait(driver).until(ec.invisibility_of_element(dialog))


def press_test(driver, url: str, conn_id: str):
    """Press the row's Test Connection button; the toast Airflow shows with the hook's answer."""
    driver.get(f"{url}/connections")
    row = wait(driver).until(ec.visibility_of_element_located(
        (By.XPATH, f"//tr[td[normalize-space()='{conn_id}']]")))
    row.find_element(By.CSS_SELECTOR, "button[aria-label='Test Connection']").click()
    try:
        return wait(driver).until(ec.visibility_of_element_located(
            (By.CSS_SELECTOR, "[data-scope=toast][data-part=root]")))
    except TimeoutException:
        pytest.fail(f"pressing Test on {conn_id} showed no answer")


def toast_text(toast) -> tuple[str, str, str]:
    """(type, title, description) of a toast."""
    parts = [toast.find_elements(By.CSS_SELECTOR, f"[data-part={part}]") for part in ("title", "description")]
    return (toast.get_attribute("data-type"), *(found[0].text if found else "" for found in parts))
