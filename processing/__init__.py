"""Processing one episode: download, transcribe, segment, summarize, embed, store.

Plain Python (no Ray): the Serve app's processor deployment and the batch pipelines wire these
same steps to their model replicas or actors through the small interfaces in
:mod:`processing.ports`.
"""
