"""Admin: instructions."""
