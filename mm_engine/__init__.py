"""mm engine: the product. Front ends (mm_tui) import it; it never imports them."""

__version__ = "0.1.0"
