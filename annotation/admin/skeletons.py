"""Admin: skeletons."""
