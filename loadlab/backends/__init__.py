"""Where a run happens. Every backend gives the runner the same `Lab` and so the same results."""
