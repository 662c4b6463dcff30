"""The one signing secret every test tier's settings use (a constant: tests sign and verify
tokens with it, and no real secret is ever needed on loopback)."""

TEST_SECRET = "test-secret-" + "x" * 40
