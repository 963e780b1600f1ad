"""A Monetate and an Acquia CDP connection added through the Airflow 3 UI's form, in headless Chromium.

Each test opens Admin -> Connections -> Add Connection, checks every field of the connection
type (label, placeholder, helper text, required mark: what ``_provider_info`` defines), types
the emulator's real values (pasting the PEM key, as a user does), checks that every secret is a
masked input, saves, presses Test and expects Airflow's success toast with the hook's message,
then reads the connection back through the REST API (and, when the Airflow was started here,
the CLI, which shows the secrets) and compares it with what was typed. The screenshots it takes
of the Airflow it starts are the README's (docs/images/); those of a deployment stay in a
temporary folder.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from airflow_provider_monetate._provider_info import CONNECTION_TYPES, is_required
from airflow_provider_monetate.monetate._auth import restore_line_breaks
from tests.browser import _ui
from tests.browser.conftest import VENV_BIN

pytestmark = pytest.mark.browser

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
FORMS = {conn["connection-type"]: conn for conn in CONNECTION_TYPES}
STANDARD_LABELS = {"host": "Host", "port": "Port", "login": "Login", "password": "Password"}
# What the form may demand: only what the hooks cannot work without.
REQUIRED_EXTRAS = {"monetate": {"shortname"}, "acquia_cdp": {"tenant_id"}}


@dataclass
class Case:
    conn_type: str
    slug: str  # image names
    standard: dict  # host, port, login, password as typed
    extra: dict  # extra field -> text typed (or the option chosen)
    secrets: list[str]  # input names that must be masked
    stored_extra: dict  # the extra as the REST API shows it (Airflow shows "***" for secret-looking text)
    message: str  # the hook's test_connection message (a regular expression)
    pasted: set[str] = field(default_factory=set)


def monetate_case(emulator) -> Case:
    conn = emulator.monetate
    return Case(
        "monetate", "monetate",
        {"host": emulator.url, "port": str(emulator.port), "login": conn["login"], "password": conn["password"]},
        # Token TTL left empty, as most users will: the hook's default (3600 s) applies.
        {"shortname": conn["extra"]["shortname"], "algorithm": "RS384"},
        ["password", "element_private_key_passphrase"],
        {"shortname": conn["extra"]["shortname"], "environment": "production", "algorithm": "RS384",
         "token_ttl": None, "private_key_path": None, "private_key_passphrase": None},
        rf"Authenticated as {conn['login']}; token valid for 3600s; \d+ dataset\(s\) under "
        rf"/api/data/v1/{conn['extra']['shortname']}/production\.",
        pasted={"password"},
    )


def cdp_case(emulator) -> Case:
    conn, extra = emulator.cdp, emulator.cdp["extra"]
    return Case(
        "acquia_cdp", "acquia-cdp",
        {"host": emulator.url, "port": str(emulator.port), "login": conn["login"], "password": conn["password"]},
        {"auth_host": extra["auth_host"], "tenant_id": extra["tenant_id"], "environment": extra["environment"],
         "token": extra["token"], "source_system_id": extra["source_system_id"]},
        ["password", "element_token"],
        {"auth_host": extra["auth_host"], "tenant_id": extra["tenant_id"], "environment": extra["environment"],
         "scheme": "a1user", "token": "***", "token_variable": None, "source_system_id": extra["source_system_id"],
         "timestamp_unit": "s"},
        rf"Token valid for [\d.]+ more days \({extra['environment']}, tenant {extra['tenant_id']}\)\.",
    )


@pytest.fixture(params=[monetate_case, cdp_case], ids=["monetate", "acquia_cdp"])
def case(request, emulator) -> Case:
    return request.param(emulator)


@pytest.fixture(scope="session")
def images(airflow_ui, tmp_path_factory) -> Path:
    if airflow_ui.env is None:
        return tmp_path_factory.mktemp("screenshots")
    IMAGES.mkdir(parents=True, exist_ok=True)
    return IMAGES


@pytest.fixture
def conn_id(case, airflow_ui, browser):
    if airflow_ui.env is not None:
        yield f"{case.conn_type}_ui"
        return
    # A shared deployment: a name of its own, removed afterwards.
    name = f"{case.conn_type}_browser_test_{secrets.token_hex(3)}"
    yield name
    requests.delete(f"{airflow_ui.url}/api/v2/connections/{name}", timeout=30,
                    headers={"Authorization": f"Bearer {_ui.api_token(browser)}"})


def check_standard_fields(dialog, conn_type: str) -> None:
    ui = FORMS[conn_type]["ui-field-behaviour"]
    for name, default_label in STANDARD_LABELS.items():
        shown = _ui.Field(dialog, name)
        assert shown.input.is_displayed(), f"{conn_type}: {name} is not shown"
        assert shown.label == ui["relabeling"].get(name, default_label), name
        assert (shown.input.get_attribute("placeholder") or "") == ui["placeholders"].get(name, ""), name
    for name in ui["hidden-fields"]:
        assert not [found for found in dialog.find_elements(_ui.By.NAME, name) if found.is_displayed()], name


def check_extra_fields(dialog, conn_type: str) -> None:
    required = set()
    for name, spec in FORMS[conn_type]["conn-fields"].items():
        shown = _ui.Field(dialog, f"element_{name}")
        assert shown.visible_input.is_displayed(), f"{conn_type}: extra {name} is not shown"
        assert (shown.label, shown.helper) == (spec["label"], spec["description"]), name
        assert shown.required == is_required(spec), f"{name}: required {shown.required}"
        if shown.required:
            required.add(name)
        if spec["schema"].get("format") == "password":
            assert shown.input.get_attribute("type") == "password", f"{name} is not masked"
    assert required == REQUIRED_EXTRAS[conn_type]


def secrets_shown(text: str, case: Case, values: dict) -> list[str]:
    """The secret fields any of whose values (each line of a PEM body) is in the text on screen."""
    pieces = {name: [line.strip() for line in (values.get(name) or "").splitlines() if "-----" not in line]
              for name in case.secrets}
    return [name for name, lines in pieces.items() if any(line and line in text for line in lines)]


def check_masked(dialog, case: Case, values: dict) -> None:
    """Every secret is a password input (the browser draws dots), none is on screen as text."""
    for name in case.secrets:
        assert dialog.find_element(_ui.By.NAME, name).get_attribute("type") == "password", f"{name} shows its value"
    assert secrets_shown(dialog.text, case, values) == []


def fill(driver, dialog, case: Case, names: dict, origin: str) -> None:
    for name, value in names.items():
        box = _ui.Field(dialog, name)
        if name in case.pasted:
            _ui.paste_into(driver, box, value, origin)
        else:
            _ui.type_into(box, value)


def test_a_connection_added_in_the_form_tests_green_and_is_stored_as_typed(case, conn_id, browser, airflow_ui, images):
    driver, url = browser, airflow_ui.url
    hook_name = next(c["hook-name"] for c in CONNECTION_TYPES if c["connection-type"] == case.conn_type)
    dialog = _ui.open_add_connection_form(driver, url, hook_name)
    check_standard_fields(dialog, case.conn_type)
    _ui.type_into(_ui.Field(dialog, "connection_id"), conn_id)
    fill(driver, dialog, case, case.standard, url)
    extras = {f"element_{name}": value for name, value in case.extra.items()}
    values = {**case.standard, **extras}

    _ui.open_section(driver, dialog, "Extra Fields")
    check_extra_fields(dialog, case.conn_type)
    fill(driver, dialog, case, extras, url)
    check_masked(dialog, case, values)
    _ui.screenshot(driver, dialog, images / f"{case.slug}-connection-extra-fields.png")
    _ui.open_section(driver, dialog, "Standard Fields")
    check_masked(dialog, case, values)
    _ui.screenshot(driver, dialog, images / f"{case.slug}-connection-form.png")
    _ui.save(driver, dialog)

    toast = _ui.press_test(driver, url, conn_id)
    kind, title, message = _ui.toast_text(toast)
    assert (kind, title) == ("success", "Test Connection Successful"), f"Test said: {title}: {message}"
    assert re.fullmatch(case.message, message), message
    assert secrets_shown(driver.find_element(_ui.By.TAG_NAME, "body").text, case, values) == []
    _ui.screenshot(driver, None, images / f"{case.slug}-connection-test.png")

    check_stored(case, conn_id, airflow_ui, _ui.api_token(driver))


def check_stored(case: Case, conn_id: str, airflow_ui, token: str) -> None:
    """The REST API shows what was typed (secrets as "***"); the CLI shows the secrets themselves."""
    answer = requests.get(f"{airflow_ui.url}/api/v2/connections/{conn_id}", timeout=30,
                          headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    stored = answer.json()
    assert (stored["conn_type"], stored["host"], stored["login"], stored["port"], stored["password"]) == (
        case.conn_type, case.standard["host"], case.standard["login"], int(case.standard["port"]), "***")
    assert json.loads(stored["extra"]) == case.stored_extra
    if airflow_ui.env is None:
        return  # a deployment's secrets are proven by the Test that passed with them
    shown = subprocess.run([str(VENV_BIN / "airflow"), "connections", "get", conn_id, "-o", "json"],
                           env=airflow_ui.env, capture_output=True, text=True, check=True)
    conn = json.loads(shown.stdout)[0]
    # A PEM pasted into the one-line password input arrives with spaces for line breaks.
    assert restore_line_breaks(conn["password"]) == case.standard["password"]
    typed = {name: value for name, value in case.extra.items()}
    assert {name: str(conn["extra_dejson"][name]) for name in typed} == typed
