"""Accounts: password hashing, access and refresh tokens, and the account service."""
