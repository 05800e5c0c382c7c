"""Reusable constructs, one per file; the stacks wire them together."""
