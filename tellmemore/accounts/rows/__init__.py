"""SQL for users, sessions, refresh tokens, API keys and subscriptions."""

__all__ = ["api_keys", "subscriptions", "users"]
