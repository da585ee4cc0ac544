"""Adapters for public datasets in their original layouts."""
