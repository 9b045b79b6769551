"""ballot package."""
