"""The footer of the console's screens: only keys that fit whole, left of the palette key.

Textual's footer lays its keys out in one row and cuts the row where the command palette key
begins, so at 80 columns the last key showed as a stump ("? ", "^g Rebuil"). This one hides
every key from the first that does not fit whole; what it hides is still pressable, listed by
``?`` and in the command palette.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PALETTE = "-command-palette"


def _width(key: FooterKey) -> int:
    """The cells ``key`` takes: its text, padding and border (its margin apart)."""
    return cell_len(key.render().plain) + key.styles.gutter.width


class FittingFooter(Footer):
    async def recompose(self) -> None:
        await super().recompose()
        self.fit()

    def on_resize(self) -> None:
        self.fit()

    def fit(self) -> None:
        """Show the keys that fit whole, in their order; hide the rest."""
        keys = list(self.query_children(FooterKey))
        palette = [k for k in keys if k.has_class(PALETTE)]
        room = self.size.width - sum(_width(k) for k in palette)
        used = 0
        fits = True
        for key in keys:
            if key.has_class(PALETTE):
                continue
            width = _width(key)
            fits = fits and used + width <= room
            if key.display != fits:
                key.display = fits
            used += width + key.styles.margin.width
