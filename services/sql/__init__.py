"""The schema and the statements, written once and shared by every variant and the seed."""
