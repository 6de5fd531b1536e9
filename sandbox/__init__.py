"""A local, stateful sandbox of the Task Management API (v2) for contract testing."""

__version__ = "0.1.0"
