"""Notifications going out: the sender, which hosts it may post to, and the built-in inbox."""
