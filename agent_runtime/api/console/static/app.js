// The console's entry point: sign-in, the agents page with the submit form, and the hash router
// (#/ agents, #/tasks/<agent>/<task id> a task). Every API call goes through api.js.

import { ApiError, call, key } from "./api.js";
import { append, el, field, replace } from "./dom.js";
import { showTask } from "./task.js";

const main = document.getElementById("main");
const notice = document.getElementById("notice");
const signOut = document.getElementById("sign-out");
const PAGE = 10; // tasks per page of an agent's list
let leaving = () => {};

/** Show an error (or clear it with null) in the page's alert line. */
export function alertUser(message) {
  notice.hidden = !message;
  notice.textContent = message ?? "";
}

function signInView(message) {
  const input = el("input", { type: "password", name: "api-key", autocomplete: "off", required: true });
  const form = el("form", { class: "card narrow", attrs: { "aria-label": "Sign in" } },
    el("h2", { text: "Sign in" }),
    el("p", { text: "Enter an API key of this platform. It stays in this browser tab (session storage) " +
                    "and is sent only to this server, as the bearer header." }),
    field("API key", input),
    el("button", { type: "submit", text: "Sign in" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    key.set(input.value.trim());
    await route();
  });
  replace(main, form);
  alertUser(message);
  input.focus();
}

function limitsFrom(form) {
  const limits = {};
  for (const name of ["max_steps", "max_seconds", "max_cost_usd", "approval_timeout_s"]) {
    const value = form.elements[name].value.trim();
    if (value) limits[name] = Number(value);
  }
  return limits;
}

function submitForm(agents) {
  const agent = el("select", { name: "agent" }, agents.map((a) => el("option", { value: a.name, text: a.name })));
  const task = el("textarea", { name: "task", rows: 4, required: true, maxLength: 32000 });
  const session = el("input", { name: "session", pattern: "[A-Za-z0-9][A-Za-z0-9._:\\-]{0,127}" });
  const limit = (name, label) => field(label, el("input", { name, type: "number", min: 0, step: "any" }));
  const form = el("form", { class: "card", attrs: { "aria-label": "Submit a task" } },
    el("h2", { text: "Submit a task" }),
    field("Agent", agent), field("Task", task), field("Session", session, "optional: tasks with one session share memory"),
    el("details", {}, el("summary", { text: "Limits (optional)" }),
      el("div", { class: "limits" }, limit("max_steps", "Max steps"), limit("max_seconds", "Max seconds"),
        limit("max_cost_usd", "Max cost (USD)"), limit("approval_timeout_s", "Approval timeout (s)"))),
    el("button", { type: "submit", text: "Submit" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { input: task.value };
    if (session.value.trim()) body.session_id = session.value.trim();
    const limits = limitsFrom(form);
    if (Object.keys(limits).length) body.limits = limits;
    try {
      const accepted = await call("POST", `/v1/agents/${encodeURIComponent(agent.value)}/tasks`, body);
      location.hash = `#/tasks/${encodeURIComponent(accepted.agent)}/${encodeURIComponent(accepted.task_id)}`;
    } catch (error) {
      handle(error);
    }
  });
  return form;
}

function agentCard(agent) {
  return el("article", { class: "card agent", attrs: { "aria-label": `Agent ${agent.name}` } },
    el("h3", { text: agent.name }),
    el("p", { text: agent.description }),
    el("ul", { class: "tools" }, agent.tools.map((tool) => el("li", { title: tool.description },
      el("code", { text: tool.name }), tool.sensitive ? el("span", { class: "badge", text: "needs approval" }) : null))));
}

function taskItem(t) {
  return el("li", {},
    el("a", { href: `#/tasks/${encodeURIComponent(t.agent)}/${encodeURIComponent(t.task_id)}`, text: t.task_id }),
    " ", el("span", { class: "state", text: t.state }), " ", el("span", { class: "muted", text: t.input.slice(0, 80) }));
}

/** An agent's tasks the key may read, newest first, from GET /v1/agents/<agent>/tasks; `Older tasks` pages on. */
function taskList(agent) {
  const list = el("ul", {});
  const older = el("button", { type: "button", text: "Older tasks", hidden: true });
  let cursor = null;
  async function load() {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) query.set("cursor", cursor);
    try {
      const page = await call("GET", `/v1/agents/${encodeURIComponent(agent)}/tasks?${query}`);
      append(list, page.tasks.map(taskItem));
      cursor = page.next_cursor;
      older.hidden = !cursor;
      if (!list.children.length && !cursor) append(list, el("li", { class: "muted", text: "no tasks yet" }));
    } catch (error) {
      if (error instanceof ApiError && error.status !== 401) append(list, el("li", { class: "muted", text: error.message }));
      else handle(error);
    }
  }
  older.addEventListener("click", load);
  load();
  return el("section", { class: "card", attrs: { "aria-label": `Tasks of ${agent}` } },
    el("h3", { text: agent }), list, older);
}

async function agentsView(current) {
  const { agents } = await call("GET", "/v1/agents");
  if (!current()) return;  // the user navigated away while the agents loaded
  replace(main,
    submitForm(agents),
    el("section", { attrs: { "aria-label": "Tasks" } }, el("h2", { text: "Tasks" }),
      el("div", { class: "grid" }, agents.map((a) => taskList(a.name)))),
    el("section", { attrs: { "aria-label": "Agents" } }, el("h2", { text: "Agents" }),
      el("div", { class: "grid" }, agents.map(agentCard))));
}

/** Show an API failure: a refused key goes back to sign-in, anything else to the alert line. */
export function handle(error) {
  if (error instanceof ApiError && error.status === 401) {
    key.clear();
    signInView(error.message);
  } else {
    alertUser(error instanceof ApiError ? `${error.code}: ${error.message}` : String(error));
  }
}

// Each navigation gets a number; a view whose data arrives after a later navigation draws nothing.
let visits = 0;

async function route() {
  const visit = ++visits;
  const current = () => visit === visits;
  leaving();
  leaving = () => {};
  alertUser(null);
  signOut.hidden = !key.get();
  if (!key.get()) {
    signInView();
    return;
  }
  const task = /^#\/tasks\/([^/]+)\/([^/]+)$/.exec(location.hash);
  try {
    if (task) {
      const leave = await showTask(main, decodeURIComponent(task[1]), decodeURIComponent(task[2]), handle, current);
      if (current()) leaving = leave;
      else leave();
    } else await agentsView(current);
  } catch (error) {
    handle(error);
  }
}

signOut.addEventListener("click", () => {
  key.clear();
  location.hash = "#/";
  route();
});
window.addEventListener("hashchange", route);
route();
