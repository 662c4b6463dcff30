"""Tell Me More, the application itself: no Ray, no HTTP serving.

Floors, each importing only those below it (``tests/unit/test_layers.py`` holds the code to it):

- ground: ``settings``, ``errors``, ``clock``, ``logs``, ``metrics``
- ``storage`` (PostgreSQL, migrations, S3, Redis, result cache, job queue, paging)
- ``index`` (the LanceDB tables)
- ``catalog``, ``search``, ``ops``
- ``accounts``, ``playlists``
- ``notify`` (email senders, digests)
- ``processing`` (one episode end to end, the worker, upkeep)
- ``research`` (read-only API, exports, quality, the labelled corpus)
- ``wiring`` (the one composition root)

``models/`` (the ML models) sits below all of them; ``api/``, ``cli/``, ``raykit/``,
``serve_apps/`` and ``pipelines/`` above.
"""
