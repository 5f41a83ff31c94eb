"""Sliding-window rate limiters: one on Redis shared by every worker, one in-process."""
