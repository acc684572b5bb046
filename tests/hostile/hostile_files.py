"""Hostile YAML texts, built small here so the corpus files stay readable."""

from __future__ import annotations


def billion_laughs() -> str:
    """Nine levels of nine aliases each: under 500 bytes, 387 million strings expanded."""
    lines = ['name: laughs\na: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "\n".join(lines) + "\n"


def deep_flow(size_bytes: int = 40_000) -> str:
    half = size_bytes // 2
    return "name: deep\nvalue: " + "[" * half + "]" * half + "\n"


def deep_block(levels: int = 3000) -> str:
    return "name: deep\nvalue:\n" + "- " * levels + "1\n"


def deep_block_mappings(levels: int = 3000) -> str:
    """Nested mappings, one level per line with a one-space indent step."""
    return "name: deep\nv:\n" + "".join(" " * i + "k:\n" for i in range(1, levels)) + \
        " " * levels + "k: 1\n"
