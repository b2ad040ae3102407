"""The built site, opened page by page in headless Chromium, as a reader sees it.

The site is served from 127.0.0.1 and every HTML page is loaded once. Each test
then checks one thing on every page (console errors, math, images, internal
links) and lists all the pages that fail it, so one run shows every problem.
Chromium resolves no host name but the local server: the book must work
offline, and a test must not reach out to the internet. External links are
listed, never fetched.

Needs Debian's ``chromium`` and ``chromium-driver`` (``scripts/install_system_deps.sh``
installs them). Without them the tests are skipped, except under CI, where
they fail.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import subprocess
import threading
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait
from site_fixture import built_site

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--no-proxy-server",
    "--disable-default-apps", "--disable-extensions", "--window-size=1280,900",
    # Every host name but the local server fails to resolve, so a page that
    # needs the internet (a script from a CDN) shows up as a console error
    # here, and nothing leaves the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
# Folders of assets and copies of the sources: they hold no pages of the book.
ASSET_FOLDERS = {"_static", "_sources", "_images", "_downloads",
                 "_sphinx_design_static"}
SEARCH_TERM = "cross-entropy"
WAIT_SECONDS = 20

# Runs in the page: waits (bounded) for MathJax to typeset, then describes the
# math. Sphinx marks every formula with the class "math"; MathJax puts an
# <mjx-container> inside each one it renders and <mjx-merror> where TeX fails.
MATH_SCRIPT = """
const done = arguments[arguments.length - 1];
const formulas = Array.from(document.querySelectorAll('.math'));
const describe = (loaded) => done({
  formulas: formulas.length, loaded: loaded,
  rendered: formulas.filter(f => f.querySelector('mjx-container')).length,
  errors: document.querySelectorAll('mjx-merror').length});
if (formulas.length === 0 || !document.querySelector('script[src*="mathjax" i]')) {
  describe(false); return;
}
const started = Date.now();
(function poll() {
  const startup = window.MathJax && window.MathJax.startup;
  if (startup && startup.promise) {
    startup.promise.then(() => describe(true), () => describe(false));
  } else if (Date.now() - started > MATH_WAIT_MS) { describe(false); }
  else { setTimeout(poll, 100); }
})();
""".replace("MATH_WAIT_MS", str(WAIT_SECONDS * 500))  # half the script timeout

# Runs in the page: loads every image now (lazy ones too) and describes it.
IMAGES_SCRIPT = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach(image => { image.loading = 'eager'; });
Promise.all(images.map(image => image.decode().catch(() => null))).then(() =>
  done(images.map(image => ({src: image.currentSrc || image.src,
    alt: image.getAttribute('alt'), width: image.naturalWidth}))));
"""


@dataclasses.dataclass
class Page:
    """What one page showed in the browser."""

    name: str
    address: str  # where the browser ended up (a redirect page moves on)
    console_errors: list[str]
    math: dict
    images: list[dict]
    links: list[str]


class QuietHandler(SimpleHTTPRequestHandler):
    """Serve files without logging each request to the test output."""

    def log_message(self, format, *args):
        pass


class IdCollector(HTMLParser):
    """Collect the ids (and old-style anchor names) a page can be linked to."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if value and (key == "id" or (tag == "a" and key == "name")):
                self.ids.add(value)


def html_pages(site: Path) -> list[str]:
    """Return every page of the site (paths relative to it), assets left out."""
    return sorted(
        path.relative_to(site).as_posix() for path in site.rglob("*.html")
        if not ASSET_FOLDERS & set(path.relative_to(site).parts)
    )


def is_redirect(page: Path) -> bool:
    """Tell whether a page only sends the reader on (the site's index.html)."""
    text = page.read_text(encoding="utf-8", errors="replace").lower()
    return 'http-equiv="refresh"' in text


@functools.lru_cache(maxsize=None)
def anchors_of(page: Path) -> frozenset[str]:
    """Return the ids a link may point to with ``page.html#id``."""
    collector = IdCollector()
    collector.feed(page.read_text(encoding="utf-8", errors="replace"))
    return frozenset(collector.ids)


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on a free port of 127.0.0.1; yield its base address."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def visit(driver, address: str, name: str, redirects: bool = False) -> Page:
    """Load one page, let its math and images finish, and describe what it shows."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(address)
    if redirects:  # wait for the page it sends the reader to, or scripts break
        WebDriverWait(driver, WAIT_SECONDS).until(
            lambda driver: driver.current_url != address and driver.execute_script(
                "return document.readyState") == "complete")
    math = driver.execute_async_script(MATH_SCRIPT)
    images = driver.execute_async_script(IMAGES_SCRIPT)
    links = driver.execute_script(
        "return Array.from(document.querySelectorAll('a[href]'), a => a.href);")
    # Chromium asks every site for /favicon.ico by itself; the 404 comes from
    # no page of the book and a reader never sees it, so it is not counted.
    favicon = urlsplit(address)._replace(path="/favicon.ico", query="").geturl()
    errors = [entry["message"] for entry in driver.get_log("browser")
              if entry["level"] == "SEVERE"
              and not entry["message"].startswith(favicon + " ")]
    return Page(name, driver.current_url, errors, math, images, links)


def console_problems(pages: list[Page]) -> list[str]:
    """List the console errors of every page."""
    return [f"{page.name}: {error}" for page in pages for error in page.console_errors]


def math_problems(pages: list[Page]) -> list[str]:
    """List the pages whose formulas MathJax did not render."""
    problems = []
    for page in pages:
        math = page.math
        if math["formulas"] == 0:
            continue
        if not math["loaded"]:
            problems.append(f"{page.name}: {math['formulas']} formulas, but MathJax "
                            "did not load (see the console errors)")
        elif math["rendered"] < math["formulas"] or math["errors"]:
            problems.append(f"{page.name}: {math['rendered']} of {math['formulas']} "
                            f"formulas rendered, {math['errors']} TeX errors")
    return problems


def image_problems(pages: list[Page]) -> list[str]:
    """List the images that did not load or have no alt text."""
    problems = []
    for page in pages:
        for image in page.images:
            source = image["src"].rsplit("/", 1)[-1][:60]
            if not image["width"]:
                problems.append(f"{page.name}: image {source} did not load")
            if not (image["alt"] or "").strip():
                problems.append(f"{page.name}: image {source} has no alt text")
    return problems


def link_problems(site: Path, server: str, pages: list[Page]) -> list[str]:
    """List the links to this site whose file, or #anchor on it, does not exist."""
    problems = []
    for page in pages:
        for link in sorted(set(page.links) | {page.address}):
            if not link.startswith(server):
                continue
            parts = urlsplit(link)
            target = site / unquote(parts.path).lstrip("/")
            if parts.path.endswith("/"):
                target = target / "index.html"
            if not target.is_file():
                problems.append(f"{page.name}: {link} -> no file {target.name}")
            elif parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in anchors_of(target):
                    problems.append(f"{page.name}: {link} -> no anchor "
                                    f"#{parts.fragment} on {target.name}")
    return problems


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return built_site(tmp_path_factory)


@pytest.fixture(scope="module")
def server(site):
    """The base address of the site, served from 127.0.0.1."""
    with serve(site) as address:
        yield address


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Start headless Chromium with a fresh profile; quit it after the module."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        message = (f"{' and '.join(missing)} not found: install Debian's chromium "
                   "and chromium-driver with `bash scripts/install_system_deps.sh`.")
        if not CHROMIUM.is_file() and not os.environ.get("CI"):
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # A driver path given here keeps Selenium from running selenium-manager,
    # which would try to download a driver.
    service = Service(executable_path=str(CHROMEDRIVER), log_output=subprocess.DEVNULL)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(WAIT_SECONDS * 3)
    driver.set_script_timeout(WAIT_SECONDS)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def pages(site, server, browser) -> list[Page]:
    """Every page of the site, as the browser showed it."""
    return [visit(browser, server + name, name, redirects=is_redirect(site / name))
            for name in html_pages(site)]


def test_the_checks_find_what_is_wrong_on_a_broken_page(browser, tmp_path):
    # A page with one of each fault, so that a check that can no longer see
    # its fault fails here instead of passing on the real site.
    (tmp_path / "broken.html").write_text(
        "<html><head><script>notDefinedAnywhere();</script></head><body>"
        '<span class="math">\\(x^2\\)</span><img src="missing.png">'
        '<a href="absent.html">a</a> <a href="broken.html#absent">b</a>'
        "</body></html>")
    with serve(tmp_path) as address:
        page = visit(browser, address + "broken.html", "broken.html")
        links = link_problems(tmp_path, address, [page])
    assert any("notDefinedAnywhere" in error for error in console_problems([page]))
    assert any("missing.png" in error for error in console_problems([page]))
    assert math_problems([page]) == ["broken.html: 1 formulas, but MathJax did not "
                                     "load (see the console errors)"]
    assert len(image_problems([page])) == 2  # not loaded, no alt text
    assert len(links) == 2 and "no file absent.html" in links[0], links
    assert "no anchor #absent" in links[1], links


def test_the_walk_covers_every_page_of_the_book(site, pages):
    names = {page.name for page in pages}
    assert {"index.html", "search.html", "book/intro.html"} <= names
    assert len(names) >= 4, names
    print(f"{len(names)} pages checked: {', '.join(sorted(names))}")


def test_pages_load_without_console_errors(pages):
    problems = console_problems(pages)
    assert not problems, "Console errors:\n" + "\n".join(problems)


def test_math_is_rendered_where_a_page_has_math(pages):
    problems = math_problems(pages)
    assert not problems, "Math not rendered:\n" + "\n".join(problems)
    print(f"Pages with math: {[page.name for page in pages if page.math['formulas']]}")


def test_every_image_loads_and_has_alt_text(pages):
    problems = image_problems(pages)
    assert not problems, "Image problems:\n" + "\n".join(problems)
    print(f"{sum(len(page.images) for page in pages)} images checked")


def test_every_internal_link_resolves(site, server, pages):
    problems = link_problems(site, server, pages)
    assert not problems, "Broken internal links:\n" + "\n".join(problems)


def test_external_links_are_listed_not_fetched(server, pages):
    external: dict[str, set[str]] = {}
    for page in pages:
        for link in page.links:
            is_web = urlsplit(link).scheme in ("http", "https")
            if is_web and not link.startswith(server):
                external.setdefault(link, set()).add(page.name)
    lines = [f"{link}  (on {', '.join(sorted(names))})"
             for link, names in sorted(external.items())]
    print(f"{len(lines)} external links (listed, not fetched):")
    print("\n".join(lines))


def test_search_page_finds_the_term(server, browser):
    browser.get(f"{server}search.html?q={SEARCH_TERM}")
    # Sphinx writes a summary paragraph when the search has finished.
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: driver.execute_script(
            "return document.querySelector('#search-results .search-summary')"))
    results = browser.execute_script(
        "return Array.from(document.querySelectorAll('#search-results ul.search li a'),"
        " a => a.href);")
    assert results, f"The search for {SEARCH_TERM!r} found no page."
    assert any("/book/" in result for result in results), results
    print(f"Search for {SEARCH_TERM!r} found: {sorted(set(results))}")
