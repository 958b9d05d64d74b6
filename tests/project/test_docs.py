"""The documentation site's structure (issue 19), checked without building it.

`make docs` (Sphinx, warnings as errors) executes the tutorials and renders every page;
that is the real check and runs in CI. These tests are the cheap part that needs no
Sphinx: every public name has an API entry, every tutorial is linked, cites the physics
and ends with exercises, and no tutorial reaches past the public API.
"""

import importlib.util
import re
from pathlib import Path

import pytest

import diffsim_jax
import pinn_sciann

DOCS = Path(__file__).resolve().parents[2] / "docs"
TUTORIALS = sorted((DOCS / "tutorials").glob("[0-9][0-9]_*.md"))


def load_conf():
    spec = importlib.util.spec_from_file_location("docs_conf", DOCS / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


def test_every_public_name_has_an_api_entry():
    listed = load_conf()._listed_names(DOCS / "reference")
    for package in (diffsim_jax, pinn_sciann):
        missing = sorted(set(package.__all__) - listed.get(package.__name__, set()))
        assert not missing, f"{package.__name__}: not in docs/reference/: {missing}"


def test_api_reference_lists_only_public_names():
    """An entry for a name that is not exported documents an internal (or a typo)."""
    listed = load_conf()._listed_names(DOCS / "reference")
    for package in (diffsim_jax, pinn_sciann):
        extra = sorted(listed.get(package.__name__, set()) - set(package.__all__))
        assert not extra, f"{package.__name__}: listed but not in __all__: {extra}"


def test_tutorials_exist_and_are_linked():
    assert len(TUTORIALS) >= 4
    toc = (DOCS / "tutorials" / "index.md").read_text(encoding="utf-8")
    home = (DOCS / "index.md").read_text(encoding="utf-8")
    for path in TUTORIALS:
        assert re.search(rf"^{path.stem}$", toc, re.M), f"{path.name} missing from tutorials/index.md"
        assert f"tutorials/{path.name}" in home, f"{path.name} not linked from docs/index.md"


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_is_a_text_notebook_that_teaches(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\njupytext:"), "MyST-NB text notebook header"
    assert "```{code-cell} ipython3" in text
    assert re.search(r"physics\.md (§|eqs?\. )\d", text), "cites physics.md sections or equations"
    assert "\n## Try this\n" in text
    assert "plt." in text, "has plots"
    code = "\n".join(re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, re.S))
    # only the public faces: `ds.` / `pn.` names that exist, no submodule imports
    assert not re.search(r"(from|import) (diffsim_jax|pinn_sciann)\.", code), "submodule import"
    for package, alias in ((diffsim_jax, "ds"), (pinn_sciann, "pn")):
        used = set(re.findall(rf"\b{alias}\.([A-Za-z_]\w*)", code))
        private = sorted(used - set(package.__all__) - {"__file__", "__version__"})
        assert not private, f"{path.name} uses {alias}.{private}, not in {package.__name__}.__all__"


def test_docstring_normaliser_keeps_literal_blocks_and_bullets_item_runs():
    conf = load_conf()
    lines = ["Intro |x|.", "", "Group", "  a: first", "    continued", "  b: second", "", "Example::", "", "    y = |x|", "    z: w"]
    conf._normalise_docstring(None, "function", "f", None, None, lines)
    assert lines[0] == "Intro \\|x\\|."
    assert "  - a: first continued" in lines and "  - b: second" in lines
    assert "    y = |x|" in lines and "    z: w" in lines  # literal block untouched
