"""Shared domain package for the Hokodo post-sale bundle (shipped as a Lambda layer)."""
