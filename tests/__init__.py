"""Parvis test suite."""
