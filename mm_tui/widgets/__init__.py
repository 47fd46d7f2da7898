"""The panels that fill the main screen's tabs."""
