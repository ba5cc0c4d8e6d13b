"""Every relative Markdown link of the front page, docs/ and config/README.md resolves: to a file or
folder of the repository and, for `#anchor` links, to a heading of that file (GitHub's slugs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", REPO / "config" / "README.md", *sorted((REPO / "docs").glob("*.md"))]

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s{0,3}(```|~~~)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced and indented code blocks, with inline code spans blanked."""
    lines, fenced, previous_blank = [], False, True
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            lines.append("")
            continue
        indented_code = previous_blank and line.startswith("    ") and line.strip()
        if fenced or indented_code:
            lines.append("")
            # an indented code block goes on until a non-indented, non-blank line
            previous_blank = previous_blank if fenced else True
            continue
        previous_blank = not line.strip()
        lines.append(re.sub(r"(`+)(?:(?!\1).)+?\1", lambda m: " " * len(m.group(0)), line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup and punctuation dropped, lower case, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found, seen = set(), {}
    text = path.read_text(encoding="utf-8")
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced or line.startswith("    ") else HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path) -> list[str]:
    """'page:line: target (why)' for every relative link of the page that does not resolve."""
    problems = []
    for number, line in enumerate(prose_lines(page.read_text(encoding="utf-8")), 1):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:
                continue
            path_part, _, anchor = target.partition("#")
            where = f"{page.relative_to(REPO) if page.is_relative_to(REPO) else page}:{number}: {target}"
            dest = (page.parent / path_part).resolve() if path_part else page
            if not dest.exists():
                problems.append(f"{where} (no such file)")
            elif anchor:
                if dest.is_dir() or dest.suffix != ".md":
                    problems.append(f"{where} (anchor into a file that is not Markdown)")
                elif anchor not in anchors(dest):
                    problems.append(f"{where} (no heading with this anchor)")
    return problems


def test_the_pages_exist_and_link_to_each_other():
    assert (REPO / "README.md").is_file()
    docs = sorted(p.name for p in (REPO / "docs").glob("*.md"))
    assert docs, "docs/ has no pages"
    front = "\n".join(prose_lines((REPO / "README.md").read_text(encoding="utf-8")))
    linked = set(re.findall(r"\]\(docs/([\w.-]+\.md)", front))
    assert set(docs) <= linked, f"pages the README does not link: {sorted(set(docs) - linked)}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_the_checker_finds_broken_links_and_anchors(tmp_path):
    (tmp_path / "other.md").write_text("# A `code` title (with) punctuation\n\n## Twice\n\n## Twice\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#a-code-title-with-punctuation) [ok](other.md#twice-1) [ok](#local) [ok](https://x.y/z)\n"
        "# Local\n"
        "[gone](missing.md) [bad anchor](other.md#nothing) [bad local](#nowhere)\n"
        "`[in code](missing.md)`\n"
        "\n```\n[in a fence](missing.md)\n```\n"
    )
    problems = broken_links(page)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "missing.md (no such file)",
        "other.md#nothing (no heading with this anchor)",
        "#nowhere (no heading with this anchor)",
    ], problems
