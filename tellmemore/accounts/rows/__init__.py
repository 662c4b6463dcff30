"""SQL for users, sessions, refresh tokens and subscriptions."""

__all__ = ["subscriptions", "users"]
