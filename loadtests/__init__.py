"""Locust workloads and the lab's Locust plugins (exact latencies, open-model pacing)."""
