"""kakehashi package."""
