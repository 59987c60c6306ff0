"""How a value from outside (a campaign id, a request target, a server's answer) is shown in
an error message or a log line: shortened, and with nothing a terminal would act on.

    shorten(text, limit=SHOWN_CHARS)   at most `limit` characters, then "..."
    escape_controls(text)              every non-printable character as a visible escape
                                       (ESC -> \\x1b, newline -> \\n, U+202E -> \\u202e)
"""

from __future__ import annotations

# Long enough for any real id or path, short enough that a hostile value cannot flood a log.
SHOWN_CHARS = 200


def shorten(text: str, limit: int = SHOWN_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def escape_controls(text: str) -> str:
    r"""Control, format and separator characters (C0, DEL, C1, bidi overrides...) as escapes:
    ESC -> `\x1b`, newline -> `\n`. Printable text, non-ASCII letters included, is unchanged."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
