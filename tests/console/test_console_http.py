"""The console's files over HTTP: served without a key under a strict CSP, never in the OpenAPI document,
and built so that every API call they make carries the key and no untrusted text becomes markup."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.resources import files
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from agent_runtime.api import ApiServices, create_app
from agent_runtime.api.auth import StaticKeys
from agent_runtime.api.console import CSP
from agent_runtime.store.notify import Notifier
from agent_runtime.worker import AgentRuntime

STATIC = files("agent_runtime.api.console") / "static"
NAMES = sorted(p.name for p in STATIC.iterdir() if p.name.endswith((".html", ".css", ".js")))
SCRIPTS = {name: (STATIC / name).read_text() for name in NAMES if name.endswith(".js")}
TASK = "/v1/agents/content/tasks/content-0123456789abcdef0123456789abcdef"
CONSOLE_CALLS = [("GET", "/v1/agents"), ("POST", "/v1/agents/content/tasks"), ("GET", "/v1/agents/content/tasks"),
                 ("GET", TASK),
                 ("GET", f"{TASK}/events"), ("POST", f"{TASK}/approvals/call_1_0"), ("POST", f"{TASK}/cancel")]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    # Nothing is stored, queued or run: only the gate and the console's own routes answer here.
    services = ApiServices(store=cast(Any, None), queue=cast(Any, None), agents={"content": cast(AgentRuntime, None)},
                           keys=StaticKeys(["right-key-0123456789"]), notifier=Notifier(),
                           notify_cancel=lambda task_id: None)
    with TestClient(create_app(services, docs=False)) as c:
        yield c


@pytest.mark.parametrize("path", ["/console/", *(f"/console/{n}" for n in NAMES if n != "index.html")])
def test_every_console_file_loads_without_a_key_under_the_strict_csp(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-security-policy"] == CSP
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "no-referrer"
    expected = {"html": "text/html", "css": "text/css", "js": "text/javascript"}[path.rsplit(".", 1)[-1] if "." in path
                                                                                   else "html"]
    assert r.headers["content-type"].startswith(expected)


def test_the_csp_is_the_strict_one() -> None:
    assert CSP == ("default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                   "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def test_console_redirects_to_its_page_and_serves_nothing_else(client: TestClient) -> None:
    r = client.get("/console", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == "/console/"
    for path in ("/console/nope.js", "/console/__init__.py", "/console/..%2F__init__.py", "/console/.hidden.js"):
        assert client.get(path).status_code == 404, path


def test_the_console_is_not_in_the_api_document(client: TestClient) -> None:
    document = client.app.openapi()  # type: ignore[attr-defined]
    assert not [p for p in document["paths"] if p.startswith("/console")]


@pytest.mark.parametrize(("method", "path"), CONSOLE_CALLS)
def test_every_api_call_of_the_console_needs_the_key(client: TestClient, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-key"}):
        r = client.request(method, path, headers=headers, json={"input": "x"} if method == "POST" else None)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", (method, path, headers)


def test_only_the_api_module_fetches_and_always_with_the_bearer_header() -> None:
    fetching = {name for name, text in SCRIPTS.items() if "fetch(" in text}
    assert fetching == {"api.js"}
    calls = re.findall(r"fetch\(([^;]*)\);", SCRIPTS["api.js"])
    assert len(calls) == 2 and all("headers(" in c or "init" in c for c in calls)
    assert "Authorization: `Bearer ${key.get()" in SCRIPTS["api.js"] and "sessionStorage" in SCRIPTS["api.js"]
    assert "localStorage" not in "".join(SCRIPTS.values())


def test_no_file_turns_text_into_markup_or_loads_from_elsewhere() -> None:
    for name in NAMES:
        code = [line for line in (STATIC / name).read_text().splitlines()
                if not line.lstrip().startswith(("//", "/*", "*"))]  # comments may name what the code avoids
        text = "\n".join(code)
        for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                      "http://", "https://", "style=", "javascript:"):
            assert risky not in text, (name, risky)
    page = (STATIC / "index.html").read_text()
    assert re.findall(r"<script[^>]*>", page) == ['<script type="module" src="app.js">']
    assert "<style" not in page and not re.search(r"\son\w+=", page)
