"""Front ends of mm: the typer CLI and (later) the Textual console."""
