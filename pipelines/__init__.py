"""Ray Data backlog jobs: ``Dataset -> Dataset`` stages over ``models/`` and the core's storage.

Arrives with the batch-reprocessing work; nothing here yet.
"""
