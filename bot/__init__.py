"""A Discord bot for Midjourney images and their variations through paid HTTP API providers."""

__version__ = "0.1.0"
