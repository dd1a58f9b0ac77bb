"""Writes of the routing app, split by concern: intake (leads in, activities) and assignment (routing)."""
