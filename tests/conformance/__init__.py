"""Conformance: each documented request/response example the emulator relies on, as a test
that names the Microsoft documentation page it comes from. When the emulator answers
differently from one of these pages, the test says which page to read."""
