"""The documentation as files: the README's front page stays a page and starts with the two
commands, every relative link (and #anchor) in README.md and docs/*.md resolves, every document
is reachable from the front page, each measured table appears once and sits under the command
that regenerates it."""
from __future__ import annotations

import re
from pathlib import Path

from ros_helpers import ROOT

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def prose(text: str) -> str:
    """The text outside fenced code blocks (a `#` line in a code block is not a heading)."""
    return FENCE.sub("", text)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but '-' and '_' dropped, spaces
    to '-'."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in prose(path.read_text()).splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            base = anchor(m.group(1))
            n = seen.get(base, 0)
            found.add(base if n == 0 else f"{base}-{n}")
            seen[base] = n + 1
    return found


def relative_links(path: Path) -> list[str]:
    return [t for t in LINK.findall(prose(path.read_text()))
            if not re.match(r"[a-z]+://|mailto:", t)]


def test_every_relative_link_and_anchor_in_the_readme_and_docs_resolves():
    broken = []
    for page in PAGES:
        for target in relative_links(page):
            file, _, fragment = target.partition("#")
            dest = (page.parent / file).resolve() if file else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_the_readme_front_page_is_short_and_starts_with_the_two_commands():
    lines = README.read_text().splitlines()
    assert len(lines) < 150, f"README.md has {len(lines)} lines: move sections to docs/"
    first_block = FENCE.search(README.read_text()).group(0).splitlines()
    commands = [line.split("#")[0].strip() for line in first_block[1:-1]]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    before = README.read_text()[:README.read_text().index(first_block[0])]
    assert len(before.splitlines()) <= 4  # the title and one line, then the commands


def test_every_document_is_linked_from_the_front_page():
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in relative_links(README)}
    for page in DOCS + [ROOT / "models" / "README.md"]:
        assert page.resolve() in linked, f"{page.relative_to(ROOT)} is not linked from README.md"
    assert not (ROOT / "RANDOMIZE_NOTES.md").exists()  # it is docs/synthetic_world.md now


def tables(path: Path) -> list[tuple[int, str]]:
    """(line number, header + first data row) of every Markdown table outside code blocks."""
    lines = path.read_text().splitlines()
    found, inside = [], False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            inside = not inside
        elif (not inside and line.startswith("|") and i + 2 < len(lines)
              and re.match(r"\|[\s:|-]+\|$", lines[i + 1]) and not lines[i - 1].startswith("|")):
            found.append((i, line + "\n" + lines[i + 2]))
    return found


def test_each_table_appears_in_one_place_only():
    where: dict[str, str] = {}
    for page in PAGES + [ROOT / "models" / "README.md"]:
        for line, key in tables(page):
            assert key not in where, f"{page.name}:{line + 1} repeats the table of {where[key]}"
            where[key] = f"{page.name}:{line + 1}"


def test_every_measured_table_sits_under_the_command_that_regenerates_it():
    """In docs/results.md, between a table and the heading above it there is a code block with
    the command (a tool in .venv/bin or a script)."""
    path = ROOT / "docs" / "results.md"
    lines = path.read_text().splitlines()
    headings, inside = [], False
    for i, text in enumerate(lines):
        inside = inside != text.startswith("```")
        if not inside and text.startswith("#"):
            headings.append(i)
    for line, key in tables(path):
        start = max(i for i in headings if i < line)
        section = "\n".join(lines[start:line])
        blocks = FENCE.findall(section)
        assert any(re.search(r"\.venv/bin/|scripts/|python", b) for b in blocks), \
            f"results.md:{line + 1}: no command above the table {key.splitlines()[0][:60]}"
