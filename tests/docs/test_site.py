"""The documentation site: a strict build, every page rendered by a real headless Chromium.

The site is built with ``mkdocs build --strict`` and served on 127.0.0.1; each HTML page is
loaded in headless Chromium (``--dump-dom``), so what is checked is the DOM after the page's
scripts ran: its ``<h1>`` and article, the tables the build generates (the registered losses,
the benchmark medians), every internal link (a file the server answers with 200) and every
``#fragment`` (an ``id`` of the rendered target page).

Needs the ``docs`` extra (``pip install -e ".[docs]"``) and a Chromium binary (Debian:
``apt-get install chromium``); without either it skips with that reason.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urljoin, urlsplit

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
RENDER_TIMEOUT_S = 120
BUILD_TIMEOUT_S = 600


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


@dataclass
class Page:
    """What a rendered DOM holds: ids, link targets, the h1s, the article text, the tables."""

    ids: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)
    h1: list[str] = field(default_factory=list)
    article: str = ""
    tables: list[list[list[str]]] = field(default_factory=list)


class _DomParser(HTMLParser):
    LINK_ATTRS: ClassVar[dict[str, str]] = {
        "a": "href",
        "link": "href",
        "img": "src",
        "script": "src",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._h1: list[str] | None = None
        self._article_depth = 0
        self._article: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if "id" in values:
            self.page.ids.add(values["id"])
        link = values.get(self.LINK_ATTRS.get(tag, ""), "")
        if link:
            self.page.links.append(link)
        if tag == "h1":
            self._h1 = []
        elif tag == "article":
            self._article_depth += 1
        elif tag == "table":
            self.page.tables.append([])
        elif tag == "tr" and self.page.tables:
            self.page.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1" and self._h1 is not None:
            self.page.h1.append(" ".join("".join(self._h1).replace("¶", "").split()))
            self._h1 = None
        elif tag == "article" and self._article_depth:
            self._article_depth -= 1
        elif tag in ("td", "th") and self._cell is not None:
            if self.page.tables and self.page.tables[-1]:
                self.page.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._h1 is not None:
            self._h1.append(data)
        if self._article_depth:
            self._article.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def close(self) -> None:
        super().close()
        self.page.article = " ".join(" ".join(self._article).split())


def parse_dom(html: str) -> Page:
    parser = _DomParser()
    parser.feed(html)
    parser.close()
    return parser.page


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # the browser closed early
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@dataclass
class Site:
    """The built site, its server's base URL and every HTML page as Chromium rendered it."""

    folder: Path
    base: str
    pages: dict[str, Page]  # URL path ("/", "/losses/", "/404.html") -> rendered DOM
    build_log: str


def _url_path(html_file: Path, folder: Path) -> str:
    relative = html_file.relative_to(folder).as_posix()
    if relative == "index.html":
        return "/"
    if relative.endswith("/index.html"):
        return "/" + relative.removesuffix("index.html")
    return "/" + relative


def _render(chromium: str, url: str) -> str:
    with tempfile.TemporaryDirectory(prefix="lossbench-chromium-") as profile:
        result = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=RENDER_TIMEOUT_S,
            check=False,
        )
    assert result.returncode == 0, f"chromium failed on {url}:\n{result.stderr[-2000:]}"
    assert "<html" in result.stdout, f"chromium dumped no DOM for {url}:\n{result.stderr[-2000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip('mkdocs is not installed (pip install -e ".[docs]")')
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium binary (chromium, chromium-browser or /usr/bin/chromium)")
    folder = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    log = build.stdout + build.stderr
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{log}"
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        pages = {
            path: parse_dom(_render(chromium, base + path))
            for path in sorted(_url_path(f, folder) for f in folder.rglob("*.html"))
        }
        yield Site(folder, base, pages, log)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _nav() -> list[tuple[str, str]]:
    """``(markdown file, URL path)`` of every page in mkdocs.yml's ``nav``."""
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    files = [next(iter(entry.values())) for entry in config["nav"]]
    return [(f, "/" if f == "index.md" else "/" + f.removesuffix(".md") + "/") for f in files]


def _title(markdown_file: str) -> str:
    first = (DOCS / markdown_file).read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# "), f"{markdown_file} does not start with a '# ' title"
    return first.removeprefix("# ").replace("`", "").strip()


def _table(page: Page, header_cell: str) -> list[list[str]]:
    """The first table of ``page`` whose header row holds ``header_cell``."""
    for table in page.tables:
        if table and header_cell in table[0]:
            return table
    raise AssertionError(
        f"no table with a {header_cell!r} column in {[t[:1] for t in page.tables]}"
    )


def test_strict_build_has_no_warning(site: Site) -> None:
    assert "WARNING" not in site.build_log, site.build_log


def test_every_page_renders_with_its_title_and_content(site: Site) -> None:
    nav = _nav()
    assert len(nav) == len(list(DOCS.glob("*.md"))), "every docs/*.md page belongs in nav"
    for markdown_file, path in nav:
        assert path in site.pages, f"{markdown_file}: no page at {path}"
        page = site.pages[path]
        assert page.h1 == [_title(markdown_file)], f"{path}: h1 {page.h1}"
        assert len(page.article) > 200, f"{path}: article too short: {page.article!r}"
    for path, page in site.pages.items():
        assert len(page.h1) == 1 and page.h1[0], f"{path}: h1 {page.h1}"
        assert page.article, f"{path}: empty article"


def test_losses_table_lists_every_registered_loss(site: Site) -> None:
    from lossbench.losses import list_losses

    table = _table(site.pages["/losses/"], "citation")
    assert table[0][:3] == ["loss", "family", "defaults"]
    names = [row[0] for row in table[1:]]
    assert {"hytver", "dice"} <= set(names)
    assert names == list_losses()
    hytver = table[1 + names.index("hytver")]
    assert "alpha=0.7" in hytver[2] and "reduction" not in hytver[2]


@pytest.mark.parametrize(
    ("report", "others"),
    [("loss_speed.json", ["MONAI"]), ("metric_speed.json", ["MONAI", "MedPy"])],
)
def test_performance_tables_come_from_the_benchmark_reports(
    site: Site, report: str, others: list[str]
) -> None:
    benchmarks = json.loads((DOCS / "benchmarks" / report).read_text(encoding="utf-8"))
    groups = list(dict.fromkeys(b["group"] for b in benchmarks["benchmarks"]))
    page = site.pages["/performance/"]
    tables = [t for t in page.tables if t and t[0][:2] == ["benchmark", "lossbench (ms)"]]
    table = next((t for t in tables if [row[0] for row in t[1:]] == groups), None)
    assert table is not None, f"no table of the groups of {report}: {[t[0] for t in tables]}"
    for other in others:
        assert f"speed-up over {other}" in table[0]
    assert all(row[1] for row in table[1:]), f"a benchmark of {report} without a median"
    assert f"Measured {benchmarks['datetime'][:10]}" in page.article


def test_internal_links_and_fragments_resolve(site: Site) -> None:
    checked: dict[str, int] = {}
    links = fragments = 0
    host = urlsplit(site.base).netloc
    for path, page in site.pages.items():
        for link in page.links:
            url = urljoin(site.base + path, link)
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or parts.netloc != host:
                continue  # another site, mailto:, data:
            target = parts.path or "/"
            if target not in checked:
                try:
                    with urllib.request.urlopen(site.base + target, timeout=30) as response:
                        checked[target] = response.status
                except urllib.error.HTTPError as error:
                    checked[target] = error.code
            assert checked[target] == 200, f"{path}: {link} -> HTTP {checked[target]}"
            links += 1
            if parts.fragment:
                assert target in site.pages, f"{path}: {link} points into a page not rendered"
                assert unquote(parts.fragment) in site.pages[target].ids, f"{path}: {link}: no id"
                fragments += 1
    assert len(checked) > len(site.pages) and fragments > 0
    summary = f"{links} internal links ({len(checked)} files), {fragments} ids"
    print(f"{len(site.pages)} pages, {summary}")
