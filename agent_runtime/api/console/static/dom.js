// Building DOM nodes without HTML strings: text always goes in as text nodes (never innerHTML),
// so model and tool output cannot add markup, scripts or event handlers to the page.

/**
 * Create an element. `props`: `class`, `text`, `attrs` (attribute map), `on` (event -> handler),
 * any other key is set as a property (`type`, `value`, `disabled`...). Children: nodes or strings.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "attrs") for (const [name, v] of Object.entries(value)) node.setAttribute(name, String(v));
    else if (key === "on") for (const [name, handler] of Object.entries(value)) node.addEventListener(name, handler);
    else if (/html/i.test(key)) throw new Error(`el(): ${key} would parse markup; use text`);
    else node[key] = value;
  }
  append(node, ...children);
  return node;
}

/** Append nodes or strings (as text) to `parent`; null and undefined are skipped. */
export function append(parent, ...children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** A labelled form field: the label's text is the control's accessible name. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 10)}`;
  control.id = id;
  const labelNode = el("label", { attrs: { for: id }, text: label });
  return el("div", { class: "field" }, labelNode, control, hint ? el("small", { text: hint }) : null);
}

/** Replace everything in `parent` with `children`. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, ...children);
}

/** Pretty JSON for arguments and results (shown as text in a <pre>). */
export function pretty(value) {
  if (typeof value === "string") {
    try { return JSON.stringify(JSON.parse(value), null, 2); } catch { return value; }
  }
  return JSON.stringify(value, null, 2);
}
