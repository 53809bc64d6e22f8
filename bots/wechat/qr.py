"""QR codes as PNG images, for WeChat Pay NATIVE ``code_url`` s (``weixin://wxpay/bizpayurl?pr=…``).

A full QR code (never a Micro QR, which WeChat cannot scan), error
correction level M, a 2-module quiet zone: small enough to send as an image,
robust enough to scan from a phone screen.
"""

from __future__ import annotations

import io
from typing import Final

import segno

__all__ = ["MAX_TEXT", "png"]

#: longest text accepted: a code_url is about 40 characters; this leaves room for any payment link.
MAX_TEXT: Final = 512


def png(text: str, *, scale: int = 8) -> bytes:
    """``text`` as a QR-code PNG, ``scale`` pixels per module (1-64). ValueError for empty or over-long text."""
    if not isinstance(text, str) or not text:
        raise ValueError("QR text is empty")
    if len(text) > MAX_TEXT:
        raise ValueError(f"QR text is longer than {MAX_TEXT} characters")
    if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= 64:
        raise ValueError("scale must be an integer from 1 to 64")
    code = segno.make_qr(text, error="m", boost_error=False)
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=scale, border=2)
    return buffer.getvalue()
