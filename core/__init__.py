"""Tell Me More's shared core: settings, storage clients, domain types, catalog logic and the CLI.

Plain Python with no Ray imports; ``api/``, ``models/``, ``serve_apps/`` and ``pipelines/`` all
build on it.
"""
