"""Prompt styles: named prompt templates a generation request applies by name (issue 23)."""
