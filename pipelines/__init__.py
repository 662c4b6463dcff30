"""Ray Data backlog jobs: ``Dataset -> Dataset`` stages over ``models/`` and the core's storage.

So far: which episodes a run works on (``selection``); the stages arrive with the batch
reprocessing work.
"""
