"""The emulator's tests. A package so that its conftest.py and helpers get their own module names
(emulator.conftest, emulator.support) instead of taking the name "conftest" from tests/conftest.py."""
