"""The annotation app's REST API (v1), one module per resource."""
