"""Colours derived from the brand colour, so any brand stays readable (WCAG contrast)."""

from __future__ import annotations

WHITE = "#ffffff"
INK = "#1f2933"  # body text on white


def _rgb(color: str) -> tuple[float, float, float]:
    value = color.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    r, g, b = (int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return r, g, b


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(max(0.0, min(1.0, c)) * 255):02x}" for c in rgb)


def luminance(color: str) -> float:
    """Return the relative luminance of a #rgb/#rrggbb colour (WCAG 2.1)."""

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in _rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """Return the WCAG contrast ratio of two colours (1 to 21)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def mix(color: str, other: str, share: float) -> str:
    """Return color blended with other; share is the part of other (0 to 1)."""
    return _hex(
        tuple(c + (o - c) * share for c, o in zip(_rgb(color), _rgb(other), strict=True))  # type: ignore[arg-type]
    )


def readable_on(background: str, color: str, minimum: float = 4.5) -> str:
    """Return color, darkened or lightened just enough to reach the contrast minimum."""
    target = "#000000" if luminance(background) > 0.18 else WHITE
    share = 0.0
    candidate = color
    while contrast(candidate, background) < minimum and share < 1.0:
        share = min(1.0, share + 0.05)
        candidate = mix(color, target, share)
    return candidate


def text_on(background: str) -> str:
    """Return white or ink, whichever reads better on background."""
    return WHITE if contrast(WHITE, background) >= contrast(INK, background) else INK


def palette(brand: str) -> dict[str, str]:
    """Return the email's colours for a brand colour: masthead, links, dark-mode links.

    A mid-tone brand that neither white nor ink reads well on is darkened for the
    masthead background until white text on it reaches 4.5:1.
    """
    masthead = brand
    if contrast(text_on(brand), brand) < 4.5:
        masthead = readable_on(WHITE, brand)
    on = text_on(masthead)
    return {
        "brand": brand,
        "masthead": masthead,
        "on_brand": on,
        "on_brand_soft": readable_on(masthead, mix(on, masthead, 0.2)),
        "link": readable_on(WHITE, brand),
        "dark_link": readable_on("#1b1f24", mix(brand, WHITE, 0.55), 7.0),
    }
