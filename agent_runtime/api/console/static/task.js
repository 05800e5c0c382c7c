// The task page: state, counters, approval cards, Cancel task, a live timeline of the task's events
// and the final answer (Markdown rendered by markdown.js into safe nodes). Model and tool text only
// ever reaches the page as text nodes.

import { call, follow, taskPath } from "./api.js";
import { el, pretty, replace } from "./dom.js";
import { renderMarkdown } from "./markdown.js";

const ENDED = { "task.finished": "succeeded", "task.failed": "failed", "task.cancelled": "cancelled" };
const usd = (value) => `$${Number(value || 0).toFixed(4)}`;
const ms = (value) => (value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value || 0)} ms`);
const tokens = (usage) => usage?.total_tokens ?? ((usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0));
const folded = (summary, value) => el("details", {}, el("summary", { text: summary }), el("pre", { text: pretty(value) }));

function timeLeft(deadline) {
  const s = Math.max(0, Math.round(deadline - Date.now() / 1000));
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s left` : `${s} s left`;
}

/** The page's nodes, built once; `render` functions below fill them. */
function layout(agent, task) {
  const ui = {
    state: el("strong", { class: "state", attrs: { role: "status", "aria-live": "polite" } }),
    step: el("span", { text: String(task.steps ?? 0) }),
    tokens: el("span", { text: String(tokens(task.usage)) }),
    cost: el("span", { text: usd(task.cost_usd) }),
    link: el("span", { class: "muted", text: "connecting" }),
    cancel: el("button", { type: "button", class: "danger", text: "Cancel task" }),
    approvals: el("div", { class: "approvals" }),
    events: el("ol", { class: "timeline" }),
    answer: el("div", { class: "markdown" }),
    answerNote: el("p", { class: "muted", text: "No answer yet." }),
    draft: el("p", { class: "thought draft", attrs: { "aria-live": "off" } }),  // the model's text as it streams
    turnStep: 0,  // the last model.turn's step: deltas of it or before are stale
  };
  ui.page = el("div", { class: "task" },
    el("h2", {}, "Task ", el("code", { text: task.task_id })),
    el("dl", { class: "facts" },
      el("dt", { text: "Agent" }), el("dd", { text: agent }),
      el("dt", { text: "State" }), el("dd", {}, ui.state),
      el("dt", { text: "Step" }), el("dd", {}, ui.step),
      el("dt", { text: "Tokens" }), el("dd", {}, ui.tokens),
      el("dt", { text: "Cost" }), el("dd", {}, ui.cost),
      el("dt", { text: "Stream" }), el("dd", {}, ui.link)),
    el("pre", { class: "input", attrs: { "aria-label": "Task input" }, text: task.input }),
    el("div", { class: "actions" }, ui.cancel),
    el("section", { attrs: { "aria-label": "Approvals" } }, ui.approvals),
    el("section", { class: "card", attrs: { "aria-label": "Answer" } }, el("h3", { text: "Answer" }), ui.answerNote, ui.draft, ui.answer),
    el("section", { class: "card", attrs: { "aria-label": "Events" } }, el("h3", { text: "Events" }), ui.events));
  return ui;
}

function describe(event) {
  switch (event.type) {
    case "task.started":
      return [`Task ${event.resumed ? "resumed" : "started"} (model ${event.model}${event.offline ? ", offline" : ""})`];
    case "model.turn":
      return [`Step ${event.step}: model turn, ${ms(event.duration_ms)}, ${tokens(event.usage)} tokens, ${usd(event.cost_usd)}`,
        event.thought ? el("p", { class: "thought", text: event.thought }) : null,
        event.tool_calls?.length ? el("p", { class: "muted", text: "calls " + event.tool_calls.map((c) => c.name).join(", ") }) : null];
    case "tool.started":
      return [`Tool ${event.tool} started${event.retry ? " (retry)" : ""}`, folded("arguments", event.arguments)];
    case "tool.finished":
      return [`Tool ${event.tool} ${event.ok ? "finished" : "failed"} in ${ms(event.duration_ms)}`,
        folded(event.ok ? "result" : "error", event.ok ? event.result : (event.error ?? event.result))];
    case "approval.requested":
      return [`Approval requested for ${event.tool}`, folded("arguments", event.arguments)];
    case "approval.resolved":
      return [`${event.tool} ${event.approved ? "approved" : "denied"} by ${event.decided_by}${event.reason ? ": " + event.reason : ""}`];
    case "task.finished":
      return [`Task finished: ${event.stop_reason}, ${event.steps} steps, ${ms(event.duration_ms)}, ${usd(event.cost_usd)}`];
    case "task.failed":
      return [`Task failed (${event.stop_reason}): ${event.error}`];
    case "task.cancelled":
      return [`Task cancelled: ${event.reason}`];
    default:
      return [`${event.type}`];
  }
}

function approvalCard(agent, taskId, event, onDone, handle) {
  const reason = el("input", { name: "reason", maxLength: 1000 });
  const left = el("span", { class: "muted", text: timeLeft(event.deadline) });
  const decide = async (approve) => {
    for (const b of card.querySelectorAll("button")) b.disabled = true;
    const body = reason.value.trim() ? { approve, reason: reason.value.trim() } : { approve };
    try {
      await call("POST", `${taskPath(agent, taskId)}/approvals/${encodeURIComponent(event.call_id)}`, body);
      onDone();
    } catch (error) {
      for (const b of card.querySelectorAll("button")) b.disabled = false;
      handle(error);
    }
  };
  const reasonId = `reason-${event.call_id}`;
  reason.id = reasonId;
  const card = el("article", { class: "card approval", attrs: { "aria-label": `Approval for ${event.tool}` } },
    el("h3", {}, "Approve ", el("code", { text: event.tool }), "?"),
    el("pre", { text: pretty(event.arguments) }), left,
    el("div", { class: "field" }, el("label", { attrs: { for: reasonId }, text: "Reason (optional)" }), reason),
    el("div", { class: "actions" },
      el("button", { type: "button", text: "Approve", on: { click: () => decide(true) } }),
      el("button", { type: "button", class: "danger", text: "Deny", on: { click: () => decide(false) } })));
  card.tick = () => { left.textContent = timeLeft(event.deadline); };
  return card;
}

/** Draw the task page in `main` and follow its events; returns the function that stops following. */
export async function showTask(main, agent, taskId, handle, current = () => true) {
  const task = await call("GET", taskPath(agent, taskId));
  if (!current()) return () => {};  // the user navigated away while the task loaded: draw nothing
  const ui = layout(agent, task);
  const cards = new Map();
  const totals = { tokens: 0, cost: 0 };
  const controller = new AbortController();
  const setState = (state) => {  // an ended task stays ended (a late reply may still say "running")
    if (Object.values(ENDED).includes(ui.state.textContent)) return;
    ui.state.textContent = state;
    ui.cancel.disabled = Object.values(ENDED).includes(state);
  };
  const dropCard = (callId) => { cards.get(callId)?.remove(); cards.delete(callId); };
  setState(task.state);
  ui.cancel.addEventListener("click", async () => {
    ui.cancel.disabled = true;
    try {
      setState((await call("POST", `${taskPath(agent, taskId)}/cancel`)).state);
    } catch (error) {
      ui.cancel.disabled = false;
      handle(error);
    }
  });
  const onEvent = (event) => {
    if (event.type === "model.delta") {  // live only (seq null): drafted until its step's model.turn arrives
      if (event.step > ui.turnStep) draft(ui, event);
      return;
    }
    const [title, ...body] = describe(event);
    ui.events.append(el("li", { attrs: { "data-type": event.type } }, el("span", { class: "title", text: title }), ...body));
    if (event.type === "task.started") setState("running");
    if (event.type === "model.turn") {
      ui.turnStep = event.step;
      replace(ui.draft, null);
      totals.tokens += tokens(event.usage);
      totals.cost += event.cost_usd ?? 0;
      ui.step.textContent = String(event.step);
      ui.tokens.textContent = String(totals.tokens);
      ui.cost.textContent = usd(totals.cost);
    }
    if (event.type === "approval.requested" && !cards.has(event.call_id)) {
      const card = approvalCard(agent, taskId, event, () => dropCard(event.call_id), handle);
      cards.set(event.call_id, card);
      ui.approvals.append(card);
      setState("waiting_approval");
    }
    if (event.type === "approval.resolved") {
      dropCard(event.call_id);
      if (!cards.size) setState("running");
    }
    if (ENDED[event.type]) finish(ui, event, cards, setState);
  };
  const ticker = setInterval(() => cards.forEach((card) => card.tick()), 1000);
  replace(main, ui.page);
  follow(agent, taskId, { onEvent, signal: controller.signal, onLink: (s) => { ui.link.textContent = s; } })
    .catch(handle).finally(() => clearInterval(ticker));
  return () => { controller.abort(); clearInterval(ticker); };
}

/** Append a streamed piece of the model's text to the Answer draft (a new step starts a new draft). */
function draft(ui, event) {
  if (ui.draft.dataset.step !== String(event.step)) {
    ui.draft.dataset.step = String(event.step);
    replace(ui.draft, null);
  }
  ui.draft.append(document.createTextNode(event.text));
}

function finish(ui, event, cards, setState) {
  replace(ui.draft, null);
  for (const callId of [...cards.keys()]) { cards.get(callId).remove(); cards.delete(callId); }
  setState(ENDED[event.type]);
  ui.step.textContent = String(event.steps);
  ui.tokens.textContent = String(tokens(event.usage));
  ui.cost.textContent = usd(event.cost_usd);
  const answer = event.answer;  // a failed task may carry its last thought
  ui.answerNote.textContent = event.type === "task.finished"
    ? `Cost ${usd(event.cost_usd)}, ${tokens(event.usage)} tokens, ${event.steps} steps.`
    : event.type === "task.failed" ? `Failed: ${event.error}` : `Cancelled: ${event.reason}`;
  replace(ui.answer, answer ? renderMarkdown(answer) : null);
}
