"""Episode summaries, topics and chapter titles from an LLM, through vLLM in-process or any
OpenAI-compatible endpoint, with the same prompts and the same validation."""

from models.summarizer.backends import ChatBackend, OpenAIChat, VllmChat
from models.summarizer.summarizer import Progress, Summarizer

__all__ = ["ChatBackend", "OpenAIChat", "Progress", "Summarizer", "VllmChat"]
