"""Sphinx configuration of fastmlp's documentation.

Build (from the repository root, after ``pip install ".[docs]"``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The API pages document the *installed* fastmlp (its engine is compiled), so
the package must be installed first.  Nothing here needs the network: no
intersphinx inventories are downloaded.
"""
import os
import sys

import fastmlp

DOCS_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT_DIR = os.path.dirname(DOCS_DIR)

project = "fastmlp"
author = "the fastmlp developers"
copyright = "2026, the fastmlp developers"
version = release = fastmlp.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "_generated"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
default_role = "literal"

# --- API reference -------------------------------------------------------
# api.rst lists the public names once, in autosummary tables; each gets a
# generated page (from _templates/autosummary/class.rst or function.rst,
# with the gallery's examples that use it).  numpydoc renders the docstrings; its own
# member listing is off because the class template lists the methods.
autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
# Fail the build on a public docstring that is missing, or that leaves a
# parameter or the return value undocumented.
numpydoc_validation_checks = {"GL08", "PR01", "PR02", "PR07", "RT01"}


def skip_inherited_from_sklearn(app, what, name, obj, skip, options):
    """Document the methods fastmlp defines; those inherited unchanged from
    scikit-learn's base classes (score, get_params, set_params, the
    metadata-routing set_*_request) are linked to scikit-learn's pages by
    the class template instead (their docstrings cite scikit-learn's own
    labels and glossary, which only its documentation has)."""
    module = getattr(obj, "__module__", None) or ""
    # autodoc passes what="class" (the owner), autosummary what="method"
    if what in ("class", "method") and callable(obj) and not module.startswith("fastmlp"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", skip_inherited_from_sklearn)


# --- Example gallery -----------------------------------------------------
# Every examples/**/plot_*.py is run at build time (each in a few seconds)
# and rendered with its output and figures.  The subsections are ordered
# here; a folder not listed yet (a new topic) goes where the "*" is.
sphinx_gallery_conf = {
    "examples_dirs": [os.path.join("..", "examples")],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "subsection_order": [
        "../examples/getting_started",
        "../examples/beyond_sklearn",
        "../examples/out_of_core",
        "../examples/export",
        "*",
        "../examples/benchmarks",
    ],
    "within_subsection_order": "FileNameSortKey",
    # "Examples using X" on each API page (the minigallery in class.rst)
    "doc_module": ("fastmlp",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"fastmlp": None},
    "download_all_examples": False,
    "show_memory": False,
    "remove_config_comments": True,
    # an example that raises fails the build (after all have run)
    "only_warn_on_example_error": False,
}

# --- HTML ----------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"fastmlp {release}"
html_static_path = []
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "show_prev_next": False,
}
html_show_sourcelink = False

# --- Generated pages -----------------------------------------------------
# The scaling page's estimate table is computed from the measured
# benchmark results at every build, so it never disagrees with them.
sys.path.insert(0, DOCS_DIR)
import scaling_estimate  # noqa: E402

os.makedirs(os.path.join(DOCS_DIR, "_generated"), exist_ok=True)
with open(os.path.join(DOCS_DIR, "_generated", "scaling_tables.txt"), "w") as f:
    f.write(scaling_estimate.render_rst(
        scaling_estimate.load_results(os.path.join(ROOT_DIR, "benchmarks", "results.json"))))
