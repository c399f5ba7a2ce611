"""Translation markers for code that must not import Flask.

Domain modules mark user-facing texts with ``N_`` where they are defined; the web and API
layers translate them with ``gettext`` where they are shown, in the reader's language.
"""


def N_(message: str) -> str:
    """Mark ``message`` for extraction into the translation catalog; return it unchanged."""
    return message
