"""The docs say what the code does: every error code and rule is documented, every link lands, no comment cites a missing note."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from sandbox import errors

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
CODES = sorted({cls.code for cls in errors._kinds(errors.SandboxError) if "code" in vars(cls)})


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("code", CODES)
def test_every_error_code_is_in_the_errors_page(code):
    assert f"`{code}`" in _text(DOCS / "errors.md"), f"{code} (sandbox/errors.py) is not documented in docs/errors.md"


def test_the_contract_cites_the_rules_the_behaviour_page_defines():
    defined = sorted(int(n) for n in re.findall(r"^- \*\*B(\d+)\*\*", _text(DOCS / "behaviour.md"), re.M))
    assert defined == list(range(1, len(defined) + 1))
    cited = re.search(r"\(B1–B(\d+)\)", _text(ROOT / "openapi.yaml"))
    assert cited and int(cited.group(1)) == defined[-1]


# -- links --

FENCE = re.compile(r"^```.*?^```", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, spaces to '-', punctuation but '-' and '_' dropped."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    found, seen = set(), {}
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", FENCE.sub("", markdown), re.M):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")  # GitHub numbers a repeated heading's anchor
    return found


def broken_links(page: Path) -> list[str]:
    """Each relative link of `page` whose file, or #anchor in it, does not exist."""
    prose = INLINE_CODE.sub("", FENCE.sub("", _text(page)))
    broken = []
    for target in LINK.findall(prose):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:: not this repository's
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no file {path}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(_text(file)):
            broken.append(f"{target}: no heading #{anchor} in {path or page.name}")
    return broken


@pytest.mark.parametrize("heading, anchor", [
    ("Workers, replicas and Redis", "workers-replicas-and-redis"),
    ("The control plane (`/_sandbox`)", "the-control-plane-_sandbox"),
    ("A client's contract report", "a-clients-contract-report"),
    ("Time: processing, validation, export", "time-processing-validation-export"),
])
def test_anchors_follow_githubs_slugs(heading, anchor):
    assert slug(heading) == anchor


@pytest.mark.parametrize("link, broken", [
    ("[ok](other.md#a-heading)", False),
    ("[ok](#here-too)", False),
    ("![ok](img/x.png)", False),
    ("[ok](https://example.com/nowhere.md#nothing)", False),
    ("[missing file](gone.md)", True),
    ("[missing anchor](other.md#no-such-heading)", True),
    ("[missing own anchor](#nowhere)", True),
    ("![missing image](img/y.png)", True),
])
def test_a_broken_link_is_found(tmp_path, link, broken):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "x.png").write_bytes(b"")
    (tmp_path / "other.md").write_text("# Other\n\n## A heading\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(f"# Page\n\n## Here, too\n\n{link}\n\n```sh\n# not a heading\n[a](code.md)\n```\n", encoding="utf-8")
    assert bool(broken_links(page)) == broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_lands(page):
    assert broken_links(page) == []


# -- comments cite nothing the repository does not hold --

CITATION = re.compile(r"\bnotes? +(#\d+(?: *(?:,|-|–|and) *#?\d+)*)", re.I)


def _held_notes() -> set[int]:
    """Note numbers some Markdown file of the repository defines as a heading or a list item."""
    held = set()
    for md in ROOT.rglob("*.md"):
        if not {".venv", ".git", "node_modules"} & set(md.relative_to(ROOT).parts):
            held |= {int(n) for n in re.findall(r"^(?:#+|[-*]) +\**notes? +#(\d+)", _text(md), re.I | re.M)}
    return held


def cited_notes(text: str) -> set[int]:
    cited = set()
    for group in CITATION.findall(text):
        for start, end in re.findall(r"(\d+)(?: *[-–] *#?(\d+))?", group):
            cited |= set(range(int(start), int(end or start) + 1))
    return cited


@pytest.mark.parametrize("text, notes", [
    ("# connexion 3.3 (connexion notes #14)", {14}),
    ('"""handlers go on the app (notes #2, #3)."""', {2, 3}),
    ("# see notes #2-#6, #14", {2, 3, 4, 5, 6, 14}),
    ("# note #5 says so", {5}),
    ("# no citation: 5 notes, issue #3", set()),
])
def test_a_citation_is_read(text, notes):
    assert cited_notes(text) == notes


SOURCES = [ROOT / "pyproject.toml", *sorted(p for p in (ROOT / "sandbox").rglob("*") if p.is_file()
                                            and p.suffix in {".py", ".toml", ".yaml", ".js", ".css", ".html"})]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_comment_cites_a_note_the_repository_lacks(source):
    missing = cited_notes(_text(source)) - _held_notes()
    assert not missing, f"{source.relative_to(ROOT)} cites notes {sorted(missing)}: say the fact instead"
