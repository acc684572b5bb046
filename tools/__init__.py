"""Development tools run by `make` targets and the test suite (not installed)."""
