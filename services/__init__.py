"""The systems under test: one HTTP contract, one schema, several framework variants."""
