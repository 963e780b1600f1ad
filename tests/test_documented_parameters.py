"""Every parameter the README and docs/ document for a class is one that class accepts.

The docs name parameters in three ways, all read here: a call, ``ClassName(a, b=..., c=None)``;
a parameter table (``| Parameter | Meaning |``) in a section about some classes; and a
sentence that says the classes of its section "also take" a list of parameters. And
docs/rotation.md says ``token_store=`` goes to every operator and hook that uses the token.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

from airflow_provider_monetate import get_provider_info
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook
from airflow_provider_monetate.hooks.monetate import MonetateHook
from airflow_provider_monetate.operators import acquia_cdp_tokens

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Every operator, sensor and trigger module Airflow is told about, so a new one is checked too.
MODULES = [importlib.import_module(name) for kind in ("operators", "sensors", "triggers")
           for entry in get_provider_info()[kind] for name in entry["python-modules"]]
CLASSES = {cls.__name__: cls for module in MODULES for cls in map(module.__dict__.get, module.__all__)}
CLASSES.update({"MonetateHook": MonetateHook, "AcquiaCdpHook": AcquiaCdpHook})
TOKEN_USERS = ["AcquiaCdpHook", "AcquiaCdpIngestOperator", "AcquiaCdpDeleteCustomersOperator",
               "AcquiaCdpTokenExpirySensor", *acquia_cdp_tokens.__all__]
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


def accepted(cls: type) -> set[str]:
    """Keyword names some ``__init__`` in the class's MRO declares (the operator's own and Airflow's)."""
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            names |= {p.name for p in inspect.signature(init).parameters.values()
                      if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return names - {"self"}


def calls(text: str) -> list[tuple[str, str]]:
    """``(ClassName, arguments)`` of every documented call of a provider class."""
    found = []
    for match in re.finditer(r"\b(" + "|".join(CLASSES) + r")(?:\.partial)?\(", text):
        depth, start = 1, match.end()
        for end in range(start, len(text)):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            if depth == 0:
                found.append((match.group(1), text[start:end]))
                break
    return found


def call_parameters(arguments: str) -> set[str]:
    """Names in a documented call: keywords (``x=``) and bare names (``entities``, ``a | b=``)."""
    depth, top = 0, []
    for char in arguments:
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(char, 0)
        top.append(char if depth == 0 else " ")
    names = set()
    for part in re.split(r"[,|\n]", "".join(top)):
        part = part.strip().strip("\\").strip()
        name = part.split("=")[0].strip()
        if IDENTIFIER.fullmatch(name) and name not in {"task_id"} | ({"..."}):
            names.add(name)
    return names


def sections(text: str) -> list[str]:
    return re.split(r"^#{2,3} ", text, flags=re.M)


def section_claims(section: str) -> list[tuple[set[str], set[str]]]:
    """``(classes, parameters)`` said of every class a section's table lists (parameter tables, "also take")."""
    classes = set(re.findall(r"^\| `(" + "|".join(CLASSES) + r")[`(]", section, flags=re.M))
    claims = []
    table = re.search(r"^\| Parameter \| Meaning \|\n\|[-| ]+\|\n((?:\|.*\n)+)", section, flags=re.M)
    if table:
        owners = set(re.findall(r"`(" + "|".join(CLASSES) + r")`", section[:table.start()])) or classes
        params = {n for row in table.group(1).splitlines() for n in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
        claims.append((owners, params))
    for sentence in re.findall(r"[^.]*\balso take[^.]*\.", section, flags=re.S):
        claims.append((classes, set(re.findall(r"`([a-z_]+)`", sentence))))
    return claims


def documented() -> list[tuple[str, str, str]]:
    """``(document, class, parameter)`` for every parameter the docs give a class."""
    found = []
    for path in DOCS:
        text = path.read_text()
        found += [(path.name, cls, name) for cls, arguments in calls(text) for name in call_parameters(arguments)]
        for section in sections(text):
            for owners, params in section_claims(section):
                found += [(path.name, cls, name) for cls in owners for name in params]
    rotation = (ROOT / "docs" / "rotation.md").read_text()
    if "pass it to every operator and hook" in rotation and "token_store=" in rotation:
        found += [("rotation.md", cls, "token_store") for cls in TOKEN_USERS]
    return found


DOCUMENTED = documented()


def test_the_docs_document_parameters_of_every_kind():
    """The walker finds calls, tables and "also take" lists (a guard against it finding nothing)."""
    pairs = {(cls, name) for _, cls, name in DOCUMENTED}
    assert ("AcquiaCdpIngestOperator", "entities") in pairs  # a call
    assert ("MonetateSubmitDeletionsOperator", "id_field") in pairs  # a parameter table
    assert ("AcquiaCdpDeleteCustomersOperator", "max_batch_bytes") in pairs  # "Both also take"
    assert ("AcquiaCdpIngestOperator", "token_store") in pairs  # rotation.md's rule
    assert len(pairs) > 60


@pytest.mark.parametrize(("document", "cls", "name"), sorted(set(DOCUMENTED)))
def test_documented_parameter_is_accepted(document, cls, name):
    assert name in accepted(CLASSES[cls]), f"{document} documents {cls}({name}=...), which it does not accept"
