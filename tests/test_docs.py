"""The documentation stays true: generated tables match the code, links resolve, the README stays short.

The tables are written by `make docs` (`docs/generate.py`); these tests regenerate them and compare,
so a changed setting, route or benchmark run fails here until the docs are regenerated.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from docs import generate

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])
README_MAX_LINES = 250

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)
_INLINE_CODE = re.compile(r"`[^`\n]*`")


def _prose(text: str) -> str:
    """Markdown without fenced code blocks and inline code (links there are not links)."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, with GitHub's -1, -2 suffixes for repeats."""
    seen: dict[str, int] = {}
    out = set()
    for line in _FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = github_slug(match[1])
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


@pytest.mark.parametrize("name", sorted(generate.BLOCKS))
def test_generated_block_is_current(name: str) -> None:
    file, render = generate.BLOCKS[name]
    committed = generate.committed_blocks((ROOT / file).read_text(encoding="utf-8"))
    assert name in committed, f"{file} lacks the markers of the generated block {name!r}"
    assert committed[name] == render(), (
        f"the generated block {name!r} in {file} is out of date with the code: run `make docs` and commit the result")


def test_bench_block_without_results_says_so(tmp_path: Path) -> None:
    assert generate.NO_BENCH_RESULTS in generate.bench_block(tmp_path / "absent.json")


def test_routes_block_lists_every_operation() -> None:
    document = {"paths": {"/b": {"post": {"summary": "Make", "responses": {"202": {}, "409": {}}}},
                          "/a": {"get": {"summary": "Read", "responses": {"200": {}}}}}}
    rows = [line for line in generate.routes_block(document).splitlines() if line.startswith("| GET") or
            line.startswith("| POST")]
    assert rows == ["| GET | `/a` | Read | 200 | - |", "| POST | `/b` | Make | 202 | 409 |"]


def test_replace_blocks_keeps_the_text_around() -> None:
    text = "a\n<!-- BEGIN generated: x -->\nold\n<!-- END generated: x -->\nb\n"
    assert generate.replace_blocks(text, {"x": "new\n"}) == text.replace("old", "new")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(path: Path) -> None:
    broken = []
    for target in _LINK.findall(_prose(path.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target} (no heading #{anchor} in {linked.relative_to(ROOT)})")
    assert not broken, f"broken links in {path.relative_to(ROOT)}: " + "; ".join(broken)


def test_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_readme_starts_with_make_run_and_make_test() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"^```[^\n]*\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    assert block, "README.md has no command block"
    commands = [line.split("#")[0].strip() for line in block[1].splitlines() if line.strip()]
    assert commands[:2] == ["make run", "make test"]
    assert text.index("make run") < text.index("make test") < text.index(block[0]) + len(block[0])


def test_github_slug() -> None:
    assert github_slug("Clients of the task API: `serve`, `submit`") == "clients-of-the-task-api-serve-submit"
    assert github_slug("`fetch_document` and SSRF") == "fetch_document-and-ssrf"
    assert github_slug("Event stream (SSE)") == "event-stream-sse"


def test_every_cdk_setting_has_a_meaning() -> None:
    import stacks.settings

    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    described = set(re.findall(r"^\| `([a-z_0-9]+)` \| ", text.split("What each key means", 1)[-1], re.MULTILINE))
    missing = sorted(set(generate._known_context_keys(stacks.settings)) - described)
    assert not missing, f"docs/deploy.md: add a row to 'What each key means' for {', '.join(missing)}"
