"""parvis package."""
