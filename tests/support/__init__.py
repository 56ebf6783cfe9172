"""Helpers shared by pairlab's tests."""
