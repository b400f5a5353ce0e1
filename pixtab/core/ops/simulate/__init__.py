"""Simulated pixel tables: the table maker and its sky model."""
