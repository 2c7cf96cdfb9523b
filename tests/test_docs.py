"""The documentation site builds strictly, and every Python block of the FAQ runs and prints
what its comments say."""

from __future__ import annotations

import builtins
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parent.parent
DOCS = ROOT / "docs"
# Pages whose Python blocks are executed, top to bottom, in one namespace per page.
EXECUTED_PAGES = ["faq.md"]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
# A `print` with a comment after it: the comment is what it prints, up to a ": " that explains.
EXPECTED = re.compile(r"^\s*print\(.*\)  # (?P<out>.+?)(?:: .*)?$")


def python_blocks(page: pathlib.Path) -> list[str]:
    return FENCE.findall(page.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> pathlib.Path:
    """The site built once with `mkdocs build --strict`: any warning fails the build."""
    site_dir = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}"
    return site_dir


def test_site_builds_strictly(site):
    for page in ("index.html", "faq/index.html", "recipes/index.html", "api/index.html"):
        assert (site / page).exists(), page


def test_api_reference_is_rendered_from_the_docstrings(site):
    html = (site / "api" / "index.html").read_text(encoding="utf-8")
    for anchor in (
        "widget.viewer.TensorViewer",
        "widget.viewer.TensorViewer.values",
        "widget.viewer.TensorViewer.snapshot",
        "widget.viewer.TensorViewer.callback",
        "core.extract.layer_output",
    ):
        assert f'id="kerasviz_widget.{anchor}"' in html, anchor
    assert "one cached extractor" in html  # prose from the TensorViewer docstring


def test_site_loads_nothing_from_the_network(site):
    # Scripts, images and stylesheets only; a plain hyperlink loads nothing.
    external = re.compile(r"""(?:src=|<link[^>]*href=)["']https?://""")
    offenders = [
        str(page.relative_to(site))
        for page in site.rglob("*.html")
        if external.search(page.read_text(encoding="utf-8"))
    ]
    assert not offenders, f"pages that load from the network: {offenders}"


def test_every_docs_page_is_in_the_nav():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    hook_pattern = re.compile(r"^(design-.*|live-training)\.md$")
    pages = [p.name for p in DOCS.glob("*.md")]
    missing = [p for p in pages if p not in config and not hook_pattern.match(p)]
    assert not missing, f"add these pages to the nav in mkdocs.yml: {missing}"


def test_faq_has_the_three_questions():
    text = (DOCS / "faq.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert any("KerasTensor" in h and "NumPy" in h for h in headings), headings
    assert any("print the values" in h for h in headings), headings
    assert any("sub-model every epoch" in h for h in headings), headings


def expected_outputs(source: str) -> dict[int, str]:
    """`{line number: expected output}` of the prints of a block that have a comment."""
    return {
        number: found["out"]
        for number, line in enumerate(source.splitlines(), 1)
        if (found := EXPECTED.match(line))
    }


def test_expected_outputs_are_read_as_documented():
    source = "x = 1\nprint(x)  # 1\nprint([0, 1])  # [0, 1]: the labels\nprint(x)\n"
    assert expected_outputs(source) == {2: "1", 3: "[0, 1]"}


@pytest.mark.parametrize("page", EXECUTED_PAGES)
def test_python_blocks_run_and_print_what_their_comments_say(page, tmp_path, monkeypatch, capsys):
    blocks = python_blocks(DOCS / page)
    assert len(blocks) >= 5, f"{page}: expected its Python examples, found {len(blocks)} blocks"
    monkeypatch.chdir(tmp_path)  # any file a block writes lands here
    printed: dict[tuple[str, int], list[str]] = {}

    def recording_print(*args, sep=" ", end="\n", file=None, flush=False):
        caller = sys._getframe(1)  # the line of the page that printed (also inside a callback)
        where = (caller.f_code.co_filename, caller.f_lineno)
        printed.setdefault(where, []).append(sep.join(map(str, args)))
        builtins.print(*args, sep=sep, end=end, file=file, flush=flush)

    namespace: dict[str, object] = {
        "__name__": f"docs_{page.removesuffix('.md')}",
        "print": recording_print,
    }
    expected: dict[tuple[str, int], str] = {}
    for i, source in enumerate(blocks, 1):
        name = f"{page} block {i}"
        expected.update({(name, n): out for n, out in expected_outputs(source).items()})
        exec(compile(source, name, "exec"), namespace)  # noqa: S102 - the point of the test
    assert len(expected) >= 5, f"{page}: expected its commented outputs, found {len(expected)}"
    for (name, line), out in expected.items():
        assert (name, line) in printed, f"{name}, line {line}: printed nothing (expected {out!r})"
        assert printed[(name, line)][0] == out, (
            f"{name}, line {line}: printed {printed[(name, line)][0]!r}, the page says {out!r}"
        )
    out = capsys.readouterr().out
    assert "KerasTensor" in out and "AttributeError" in out  # the failure the FAQ explains
