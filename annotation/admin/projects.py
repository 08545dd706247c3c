"""Admin: projects."""
