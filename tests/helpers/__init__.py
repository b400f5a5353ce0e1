"""Helpers shared by the tests (imported as ``helpers.<name>``; tests/ is on sys.path)."""
