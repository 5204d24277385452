"""A Hokodo post-sale API emulator: a small real HTTP server following Hokodo's ledger rules.

Standard library only. ``from hokodo_emulator import Emulator``; the admin client
(``hokodo_emulator.admin.AdminClient``) needs httpx.
"""

from .app import DEFAULT_API_KEY, Emulator

__all__ = ["DEFAULT_API_KEY", "Emulator"]
__version__ = "1.0.0"
