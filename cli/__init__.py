"""The ``tmm`` command line: one Typer sub-app per module (``tmm db`` in :mod:`cli.db`,
``tmm backup`` in :mod:`cli.backup`, ...), composed into the root app in :mod:`cli.main`, with
what they share in :mod:`cli.common`.

It sits above ``api/`` (``tmm api serve``) and the domain package ``tellmemore`` and only calls
them; it imports neither Ray nor ``serve_apps``/``pipelines``, so every ``tmm`` command runs in
one plain process.
"""
