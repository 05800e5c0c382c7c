"""The task API end to end over real HTTP on 127.0.0.1: uvicorn in a thread, httpx and httpx-sse as clients,
SQLite store, in-process queue and worker, scripted model, counting tools."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from agent_runtime.server import create_platform
from agent_runtime.settings import Settings
from tests.api.support import API_KEY, CountingTool, ServerThread, make_tools, scripted_factory

Event = tuple[int, str, dict[str, Any]]


class Api:
    def __init__(self, url: str, tools: dict[str, CountingTool]) -> None:
        self.url = url
        self.tools = tools
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=20)

    def submit(self, text: str, agent: str = "research", **body: Any) -> dict[str, Any]:
        r = self.http.post(f"/v1/agents/{agent}/tasks", json={"input": text, **body})
        assert r.status_code == 202, r.text
        return r.json()

    def task(self, task_id: str, agent: str = "research") -> dict[str, Any]:
        r = self.http.get(f"/v1/agents/{agent}/tasks/{task_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def events(self, task_id: str, *, last_event_id: int | None = None, until: str | None = None,
               limit: int | None = None) -> list[Event]:
        """Read the SSE stream until the terminal event (or `until` type, or `limit` events), then disconnect."""
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        out: list[Event] = []
        with connect_sse(self.http, "GET", f"/v1/agents/research/tasks/{task_id}/events", headers=headers) as source:
            assert source.response.headers["content-type"].startswith("text/event-stream")
            for sse in source.iter_sse():
                if not sse.data:  # a heartbeat comment (httpx-sse dispatches it with the last id)
                    continue
                out.append((int(sse.id), sse.event, json.loads(sse.data)))
                if sse.event == until or (limit is not None and len(out) >= limit):
                    break
        return out


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data_dir: Path = tmp_path_factory.mktemp("api-data")
    settings = Settings(data_dir=data_dir, api_keys=API_KEY, store="sqlite", queue="local", agent=None)
    tools = make_tools()
    platform = create_platform(settings, runtime_factory=scripted_factory(tools), heartbeat_s=0.3, poll_s=0.1)
    with ServerThread(platform.app) as server:
        client = Api(server.url, tools)
        yield client
        client.http.close()


def test_submit_stream_to_the_end_and_read_the_result(api: Api) -> None:
    accepted = api.submit("hello", session_id="s-1", metadata={"ticket": 7})
    task_id = accepted["task_id"]
    assert task_id.startswith("research-") and accepted["links"]["events"].endswith(f"/{task_id}/events")
    events = api.events(task_id)
    assert [e[1] for e in events] == ["task.started", "model.turn", "tool.started", "tool.finished", "model.turn",
                                      "task.finished"]
    assert [e[0] for e in events] == list(range(1, 7)) and all(e[2]["seq"] == e[0] for e in events)
    task = api.task(task_id)
    assert task["state"] == "succeeded" and task["answer"] == 'echo said {"tool": "echo", "text": "hi"}'
    assert task["stop_reason"] == "final_answer" and task["steps"] == 2 and task["metadata"] == {"ticket": 7}
    assert task["usage"] == {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}
    assert task["cost_usd"] == pytest.approx(0.002) and task["finished_at"] >= task["started_at"]
    assert task["pending_approvals"] == [] and task["last_seq"] == 6


def test_reconnect_with_last_event_id_has_no_gaps_and_no_duplicates(api: Api) -> None:
    task_id = api.submit("steps")["task_id"]
    first = api.events(task_id, limit=3)
    rest = api.events(task_id, last_event_id=first[-1][0])
    seqs = [e[0] for e in first + rest]
    assert seqs == list(range(1, len(seqs) + 1)) and rest[-1][1] == "task.finished"
    # ?after= does the same for clients that cannot set headers; format=json pages for pollers
    assert [e[0] for e in api.events(task_id, last_event_id=None)][:1] == [1]
    page = api.http.get(f"/v1/agents/research/tasks/{task_id}/events", params={"after": 5, "format": "json"}).json()
    assert [e["seq"] for e in page["events"]] == seqs[5:] and page["done"] and page["next_after"] == seqs[-1]
    with connect_sse(api.http, "GET", f"/v1/agents/research/tasks/{task_id}/events?after={seqs[-2]}") as source:
        assert [int(s.id) for s in source.iter_sse()] == [seqs[-1]]


def test_approve_a_sensitive_call(api: Api) -> None:
    task_id = api.submit("publish")["task_id"]
    before = api.events(task_id, until="approval.requested")
    requested = before[-1][2]
    assert requested["tool"] == "publish" and requested["deadline"] > time.time()
    task = api.task(task_id)
    assert task["state"] == "waiting_approval"
    assert [a["call_id"] for a in task["pending_approvals"]] == [requested["call_id"]]
    decide = task["pending_approvals"][0]["decide"]
    r = api.http.post(decide, json={"approve": True, "reason": "looks good"})
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["decided_by"] == "default"
    rest = api.events(task_id, last_event_id=before[-1][0])
    resolved = next(e[2] for e in rest if e[1] == "approval.resolved")
    assert resolved["approved"] and resolved["reason"] == "looks good"
    assert rest[-1][1] == "task.finished" and rest[-1][2]["answer"] == '{"tool": "publish", "text": "post"}'
    assert api.tools["publish"].finished(task_id) == [requested["call_id"]]
    again = api.http.post(decide, json={"approve": False})
    assert again.status_code == 409 and again.json()["error"]["code"] == "task_ended"


def test_reject_a_sensitive_call_and_the_model_is_told(api: Api) -> None:
    task_id = api.submit("publish")["task_id"]
    requested = api.events(task_id, until="approval.requested")[-1][2]
    r = api.http.post(f"/v1/agents/research/tasks/{task_id}/approvals/{requested['call_id']}",
                      json={"approve": False, "reason": "not this week"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    twice = api.http.post(f"/v1/agents/research/tasks/{task_id}/approvals/{requested['call_id']}",
                          json={"approve": True})
    assert twice.status_code in (409,) and twice.json()["error"]["code"] in ("conflict", "task_ended")
    final = api.events(task_id)[-1]
    assert final[1] == "task.finished" and "rejected (default): not this week" in final[2]["answer"]
    assert api.tools["publish"].started(task_id) == []


def test_approval_timeout_rejects_and_a_late_decision_conflicts(api: Api) -> None:
    task_id = api.submit("publish", limits={"approval_timeout_s": 0.5})["task_id"]
    events = api.events(task_id)
    resolved = next(e[2] for e in events if e[1] == "approval.resolved")
    assert not resolved["approved"] and resolved["decided_by"] == "timeout"
    assert "rejected (timeout)" in events[-1][2]["answer"]
    late = api.http.post(f"/v1/agents/research/tasks/{task_id}/approvals/{resolved['call_id']}",
                         json={"approve": True})
    assert late.status_code == 409


def test_cancel_during_a_slow_tool_keeps_partial_usage(api: Api) -> None:
    task_id = api.submit("slow")["task_id"]
    started = api.events(task_id, until="tool.started")
    r = api.http.post(f"/v1/agents/research/tasks/{task_id}/cancel")
    assert r.status_code == 202 and r.json()["cancel_requested"]
    rest = api.events(task_id, last_event_id=started[-1][0])
    assert rest[-1][1] == "task.cancelled" and rest[-1][2]["usage"]["prompt_tokens"] == 10
    task = api.task(task_id)
    assert task["state"] == "cancelled" and task["usage"]["total_tokens"] == 15 and task["steps"] == 1
    assert api.tools["slow"].started(task_id) == [started[-1][2]["call_id"]]
    assert api.tools["slow"].finished(task_id) == []  # the in-flight call was stopped
    again = api.http.post(f"/v1/agents/research/tasks/{task_id}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "task_ended"


def test_idempotent_submit(api: Api) -> None:
    body = {"input": "hello", "metadata": {"n": 1}}
    headers = {"Idempotency-Key": "order-42"}
    first = api.http.post("/v1/agents/research/tasks", json=body, headers=headers)
    second = api.http.post("/v1/agents/research/tasks", json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["task_id"] == second.json()["task_id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    other = api.http.post("/v1/agents/research/tasks", json={**body, "input": "steps"}, headers=headers)
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["error"]["message"]
    api.events(first.json()["task_id"])  # let it finish before the server stops


def test_heartbeat_comments_keep_an_idle_stream_open(api: Api) -> None:
    task_id = api.submit("publish")["task_id"]
    api.events(task_id, until="approval.requested")
    comments = 0
    url = f"/v1/agents/research/tasks/{task_id}/events"
    with api.http.stream("GET", url, headers={"Last-Event-ID": str(api.task(task_id)["last_seq"])}) as r:
        for line in r.iter_lines():
            if line.startswith(":"):
                comments += 1
                if comments == 2:
                    break
    assert comments == 2
    api.http.post(f"/v1/agents/research/tasks/{task_id}/cancel")


def test_agents_health_and_openapi(api: Api) -> None:
    assert httpx.get(f"{api.url}/healthz").json() == {"status": "ok", "agents": ["analysis", "content", "research"]}
    agents = api.http.get("/v1/agents").json()["agents"]
    assert [a["name"] for a in agents] == ["analysis", "content", "research"]
    assert {t["name"]: t["sensitive"] for t in agents[0]["tools"]} == {"echo": False, "slow": False, "publish": True}
    spec = httpx.get(f"{api.url}/openapi.json").json()
    assert "/v1/agents/{agent}/tasks/{task_id}/events" in spec["paths"]
    assert "text/event-stream" in spec["paths"]["/v1/agents/{agent}/tasks/{task_id}/events"]["get"]["responses"]["200"][
        "content"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("get", "/v1/agents", {"headers": {"Authorization": ""}}, 401, "unauthorized"),
        ("get", "/v1/agents", {"headers": {"Authorization": "Bearer wrong"}}, 401, "unauthorized"),
        ("post", "/v1/agents/research/tasks", {"headers": {"Authorization": "Basic abc"}, "json": {"input": "x"}},
         401, "unauthorized"),
        ("post", "/v1/agents/nobody/tasks", {"json": {"input": "x"}}, 404, "unknown_agent"),
        ("get", "/v1/agents/research/tasks/research-nope", {}, 404, "task_not_found"),
        ("get", "/v1/agents/research/tasks/research-nope/events", {}, 404, "task_not_found"),
        ("post", "/v1/agents/research/tasks/research-nope/cancel", {}, 404, "task_not_found"),
        ("get", "/v1/nothing-here", {}, 404, "not_found"),
        ("post", "/v1/agents/research/tasks", {"content": b"x" * 300_000,
                                               "headers": {"Content-Type": "application/json"}}, 413,
         "payload_too_large"),
        ("post", "/v1/agents/research/tasks", {"json": {"input": "   "}}, 422, "validation_error"),
        ("post", "/v1/agents/research/tasks", {"json": {"input": "x", "limits": {"max_steps": 0}}}, 422,
         "validation_error"),
        ("post", "/v1/agents/research/tasks", {"json": {"input": "x", "limits": {"bogus": 1}}}, 422,
         "validation_error"),
        ("post", "/v1/agents/research/tasks", {"json": {"input": "x", "session_id": "no spaces"}}, 422,
         "validation_error"),
        ("post", "/v1/agents/research/tasks", {"content": b"{not json", "headers": {"Content-Type":
                                                                                     "application/json"}}, 422,
         "validation_error"),
        ("post", "/v1/agents/research/tasks", {"json": {"input": "x"}, "headers": {"Idempotency-Key": "a b"}}, 422,
         "validation_error"),
    ],
)
def test_errors_are_json_with_the_right_status(api: Api, method: str, path: str, kwargs: dict[str, Any],
                                               status: int, code: str) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", **kwargs.pop("headers", {})}
    if not headers["Authorization"]:
        del headers["Authorization"]
    r = httpx.request(method, api.url + path, headers=headers, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"]["code"] == code and body["error"]["message"]
    assert "Traceback" not in r.text
    if status == 401:
        assert r.headers["WWW-Authenticate"] == "Bearer"


def test_a_task_of_another_agent_is_not_found_and_bad_cursors_are_rejected(api: Api) -> None:
    task_id = api.submit("hello")["task_id"]
    api.events(task_id)
    assert api.http.get(f"/v1/agents/content/tasks/{task_id}").status_code == 404
    r = api.http.get(f"/v1/agents/research/tasks/{task_id}/events", headers={"Last-Event-ID": "abc"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = api.http.post(f"/v1/agents/research/tasks/{task_id}/approvals/none", json={"approve": True})
    assert r.status_code == 404 and r.json()["error"]["code"] == "approval_not_found"


def test_a_one_agent_service_still_lists_every_agent_of_the_platform(tmp_path: Path) -> None:
    """In AWS the load balancer sends /v1/agents to one agent's service; it lists all three, from their specs."""
    settings = Settings(data_dir=tmp_path, api_keys=API_KEY, store="sqlite", queue="local", agent="content")
    platform = create_platform(settings, runtime_factory=scripted_factory(make_tools()))
    with ServerThread(platform.app) as server:
        health = httpx.get(f"{server.url}/healthz").json()
        agents = httpx.get(f"{server.url}/v1/agents", headers={"Authorization": f"Bearer {API_KEY}"}).json()["agents"]
    assert health["agents"] == ["content"]
    tools = {a["name"]: [t["name"] for t in a["tools"]] for a in agents}
    assert tools["content"] == ["echo", "slow", "publish"]  # the served agent: its runtime's tools
    assert "search_documents" in tools["research"] and "analyze_data" in tools["analysis"]
