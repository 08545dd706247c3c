"""State changes of the annotation app, one module per concern, each function one transaction."""
