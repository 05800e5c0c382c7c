"""The error table: each failure a route can raise becomes one status, one code and the error body."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent_runtime.api.errors import ApiError, add_error_handlers, validation_response
from agent_runtime.errors import ConfigurationError, ConflictError, NotFoundError, StoreError

FAILURES: dict[str, Exception] = {
    "api": ApiError(418, "teapot", "short and stout", {"X-Why": "tea"}),
    "missing": NotFoundError("no task t1"),
    "conflict": ConflictError("already decided"),
    "store": StoreError("table throttled: details the caller should not see"),
    "platform": ConfigurationError("bad setting the caller should not see"),
    "bug": RuntimeError("boom"),
}


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    add_error_handlers(app)

    @app.get("/fail/{what}")
    async def fail(what: str) -> None:
        raise FAILURES[what]

    @app.get("/count")
    async def count(n: int) -> int:
        return n

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(("what", "status", "code", "message"), [
    ("api", 418, "teapot", "short and stout"),
    ("missing", 404, "not_found", "no task t1"),
    ("conflict", 409, "conflict", "already decided"),
    ("store", 503, "unavailable", "the task store is unavailable; retry later"),
    ("platform", 500, "internal_error", "internal error"),
    ("bug", 500, "internal_error", "internal error"),
])
def test_each_failure_maps_to_one_status_and_code(client: TestClient, what: str, status: int, code: str,
                                                  message: str) -> None:
    r = client.get(f"/fail/{what}")
    assert (r.status_code, r.json()) == (status, {"error": {"code": code, "message": message}})


def test_api_error_headers_are_sent(client: TestClient) -> None:
    assert client.get("/fail/api").headers["X-Why"] == "tea"


def test_starlette_errors_get_the_code_of_their_status(client: TestClient) -> None:
    r = client.get("/nowhere")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")


def test_request_validation_is_a_422_with_details(client: TestClient) -> None:
    r = client.get("/count", params={"n": "many"})
    error = r.json()["error"]
    assert r.status_code == 422 and error["code"] == "validation_error"
    assert error["message"].startswith("query.n: ") and error["details"][0]["loc"] == ["query", "n"]


def test_validation_summary_names_body_fields_without_the_body_prefix() -> None:
    errors = [{"loc": ("body", "limits", "max_steps"), "msg": "too big"}] * 30
    body = bytes(validation_response(errors).body).decode()
    assert '"limits.max_steps: too big; limits.max_steps: too big' in body
    assert body.count('"loc"') == 20  # details are capped
