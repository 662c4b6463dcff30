"""Search over processed episodes: hybrid retrieval, caching, indexes and "tell me more"."""
