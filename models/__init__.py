"""ML models (Whisper, the LLM summarizer, the embedder, the segmenter) as plain Python wrappers
returning typed dataclasses; no Ray imports. Database rows are not "models" here.

Arrives with the models work; nothing here yet.
"""
