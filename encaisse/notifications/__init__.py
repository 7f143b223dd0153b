"""The email outbox: messages written with the fact that causes them, sent after commit, retried."""
