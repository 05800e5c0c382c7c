// A tiny, safe Markdown renderer for final answers. It builds DOM nodes directly (text nodes for all
// text), so model output can never inject markup: no <script>, no event handlers, and links only to
// http(s), mailto or same-page targets; anything else stays visible as plain text.
// Supported: # headings, paragraphs, - / * / 1. lists, > quotes, ``` code blocks, ---, `code`,
// **bold**, *em* / _em_, [text](url).

import { el } from "./dom.js";

const SAFE_URL = /^(https?:\/\/|mailto:|#|\/(?!\/))/i;
const INLINE = /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\*\*(.+?)\*\*|__(.+?)__|\*(?!\s)(.+?)\*|\b_(?!\s)(.+?)_\b|\[([^\]\n]+)\]\(([^)\s]+)\)/;

/** Inline Markdown of one block's text as a list of nodes. */
export function inline(text) {
  const out = [];
  let rest = text;
  while (rest) {
    const m = INLINE.exec(rest);
    if (!m) {
      out.push(document.createTextNode(rest));
      break;
    }
    if (m.index > 0) out.push(document.createTextNode(rest.slice(0, m.index)));
    if (m[1]) out.push(el("code", { text: m[2] }));
    else if (m[3] || m[4]) out.push(el("strong", {}, ...inline(m[3] || m[4])));
    else if (m[5] || m[6]) out.push(el("em", {}, ...inline(m[5] || m[6])));
    else if (SAFE_URL.test(m[8])) {
      out.push(el("a", { href: m[8], attrs: { rel: "noopener noreferrer nofollow", target: "_blank" } }, ...inline(m[7])));
    } else out.push(document.createTextNode(m[0]));
    rest = rest.slice(m.index + m[0].length);
  }
  return out;
}

function list(lines, start, ordered) {
  const marker = ordered ? /^\s*\d+[.)]\s+(.*)$/ : /^\s*[-*+]\s+(.*)$/;
  const node = el(ordered ? "ol" : "ul");
  let i = start;
  while (i < lines.length && marker.test(lines[i])) {
    node.append(el("li", {}, ...inline(marker.exec(lines[i])[1])));
    i += 1;
  }
  return [node, i];
}

/** Render Markdown `text` into a DocumentFragment of safe nodes. */
export function renderMarkdown(text) {
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  const out = document.createDocumentFragment();
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (!line.trim()) {
      i += 1;
    } else if ((m = /^\s*(```|~~~)\s*([\w+-]*)\s*$/.exec(line))) {
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(m[1])) body.push(lines[i++]);
      i += 1;
      out.append(el("pre", {}, el("code", { text: body.join("\n"), attrs: m[2] ? { "data-lang": m[2] } : {} })));
    } else if ((m = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line))) {
      out.append(el(`h${Math.min(6, m[1].length + 2)}`, {}, ...inline(m[2])));
      i += 1;
    } else if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      out.append(el("hr"));
      i += 1;
    } else if (/^\s*[-*+]\s+/.test(line) || /^\s*\d+[.)]\s+/.test(line)) {
      const [node, next] = list(lines, i, /^\s*\d/.test(line));
      out.append(node);
      i = next;
    } else if (/^\s*>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) quoted.push(lines[i++].replace(/^\s*>\s?/, ""));
      out.append(el("blockquote", {}, renderMarkdown(quoted.join("\n"))));
    } else {
      const para = [];
      while (i < lines.length && lines[i].trim() && !/^(\s*(```|~~~|#{1,6}\s|>|[-*+]\s|\d+[.)]\s))/.test(lines[i])) {
        para.push(lines[i++].trim());
      }
      if (!para.length) para.push(lines[i++].trim());
      out.append(el("p", {}, ...inline(para.join(" "))));
    }
  }
  return out;
}
