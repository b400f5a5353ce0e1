"""Pictures of pixel tables and of what the measuring operations make (matplotlib)."""
