"""Small Sphinx fixes for the book's site, so its pages load without console errors.

With Sphinx 7.4, inline scripts that sphinx-thebe and sphinx-togglebutton add
once end up twice on every page; the second ``const THEBE_JS_URL`` is a
SyntaxError in the reader's browser. This extension keeps the first copy only.
"""

from __future__ import annotations


def _drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    """Keep one copy of each script of a page (same file, same attributes)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (script.filename or "", tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    # Late priority: after the extensions that add scripts to the page.
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
