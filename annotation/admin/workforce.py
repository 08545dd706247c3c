"""Admin: workforce."""
