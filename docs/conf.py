"""Sphinx configuration of the rtd-inverse documentation site (issue 19).

Built by ``make docs`` as ``sphinx-build -W --keep-going -b html docs docs/_build/html``:
every warning is an error. The stack is the JAX/Optax docs' one: MyST markdown for the
pages, MyST-NB for the tutorials (text notebooks in ``docs/tutorials/``, executed on
every build, outputs never committed), autodoc + autosummary + napoleon for the API
reference in ``docs/reference/``.
"""

import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)  # the package from this checkout, also when it is not installed
# The tutorials run in a Jupyter kernel started by this process: it inherits the environment.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)

project = "rtd-inverse"
author = "the rtd-inverse developers"
copyright = "the rtd-inverse developers"  # noqa: A001  (Sphinx's name)

extensions = [
    "myst_nb",  # MyST markdown + executable text notebooks (includes myst_parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

templates_path = ["_templates"]  # autosummary/class.rst: the class and its documented members, no __init__ stub
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "jupyter_execute", "requirements.txt", "**/.ipynb_checkpoints"]

# --- MyST ----------------------------------------------------------------------------------
# dollarmath: $…$ and $$…$$ (physics.md's equations); amsmath: \begin{aligned} blocks;
# heading anchors so that physics.md's table of contents (#1-units-and-constants) resolves.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "substitution"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# --- MyST-NB: the tutorials run top to bottom on every build; a cell that raises fails it --
nb_execution_mode = "force"
nb_execution_timeout = 600  # seconds per cell
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# --- API reference ---------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # the signatures carry defaults; units are in the docstrings
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_ivar = True  # "Attributes:" as a field list: no duplicate entries beside the autodoc members
add_module_names = False

# --- HTML --------------------------------------------------------------------------------
html_theme = "furo"
html_title = "rtd-inverse"
html_static_path = []

suppress_warnings = []



# --- docstrings: the package writes plain-text docstrings (hanging-indent "name: text"
# lists outside napoleon's sections, |x| for absolute values). Read as reStructuredText they
# would raise docutils warnings, so they are normalised here, after napoleon, instead of
# making every docstring in the package RST-aware.
_ITEM = re.compile(r"^(\s*)([A-Za-z_][\w`*., ()/-]*?): \S")


def _indent(line):
    return len(line) - len(line.lstrip())


def _normalise_docstring(app, what, name, obj, options, lines):
    """Join hanging-indent continuations of "name: text" items, list runs of items as bullets
    and escape "|" (never a substitution in these docstrings); literal blocks are untouched."""
    out, literal_indent, item_indent = [], None, None
    for line in lines:
        stripped = line.strip()
        if literal_indent is not None:  # inside a "::" literal block or a directive
            if stripped and _indent(line) <= literal_indent:
                literal_indent = None
            else:
                out.append(line)
                continue
        if not stripped:
            out.append(line)
            item_indent = None
            continue
        if item_indent is not None and _indent(line) > item_indent and out and out[-1].strip():
            out[-1] = out[-1].rstrip() + " " + stripped.replace("|", "\\|")  # continuation
            continue
        item_indent = None
        if stripped.endswith("::") or stripped.startswith(".. ") or stripped.startswith(">>>"):
            literal_indent = _indent(line)
            out.append(line)
            continue
        if _ITEM.match(line) and not stripped.startswith(":"):
            item_indent = _indent(line)
        out.append(line.replace("|", "\\|") if not stripped.startswith(":") or "|" in line else line)
    # runs of two or more items at one indentation become a bullet list
    result, k = [], 0
    while k < len(out):
        m = _ITEM.match(out[k])
        run = [k]
        if m and not out[k].strip().startswith((":", "- ")):
            while run[-1] + 1 < len(out) and _ITEM.match(out[run[-1] + 1]) and _indent(out[run[-1] + 1]) == _indent(out[k]):
                run.append(run[-1] + 1)
        if len(run) >= 2:
            if result and result[-1].strip() and _indent(result[-1]) >= _indent(out[k]):
                result.append("")
            result.extend(out[j][: _indent(out[j])] + "- " + out[j].lstrip() for j in run)
            result.append("")
            k = run[-1] + 1
        else:
            result.append(out[k])
            k += 1
    lines[:] = result


# --- every public name has an entry in the API reference ------------------------------------
def _listed_names(ref_dir):
    """{package: names} listed in docs/reference/: autosummary entries (one name a line)
    under a page's ``automodule``/``currentmodule`` package, and fully qualified names."""
    listed = {}
    for fname in sorted(os.listdir(ref_dir)):
        if not fname.endswith((".md", ".rst")):
            continue
        with open(os.path.join(ref_dir, fname), encoding="utf-8") as f:
            text = f.read()
        for package, name in re.findall(r"\b(diffsim_jax|pinn_sciann)\.((?!__)\w+)\b", text):
            listed.setdefault(package, set()).add(name)
        for package in re.findall(r"(?:automodule|currentmodule)::\s*(\w+)", text):
            listed.setdefault(package, set()).update(re.findall(r"^ {3}(\w+)\s*$", text, re.M))
    return listed


def _check_api_reference(app, env):
    """Warn (an error under ``-W``) for each public name missing from docs/reference/."""
    import diffsim_jax  # noqa: PLC0415
    import pinn_sciann  # noqa: PLC0415
    from sphinx.util import logging  # noqa: PLC0415

    log = logging.getLogger(__name__)
    listed = _listed_names(os.path.join(app.srcdir, "reference"))
    for package in (diffsim_jax, pinn_sciann):
        for public in package.__all__:
            if public not in listed.get(package.__name__, set()):
                log.warning("API reference: %s.%s (in __all__) is not listed in docs/reference/", package.__name__, public)


def setup(app):
    app.connect("autodoc-process-docstring", _normalise_docstring, priority=600)  # after napoleon (500)
    app.connect("env-updated", _check_api_reference)
