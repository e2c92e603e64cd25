"""The yardstick of benchmarks/loadgen_overhead.py: the plainest Locust load, one process,
no lab plugins. Every user GETs BARE_PATH (default /db) back to back.

    BARE_PATH=/db locust -f benchmarks/bare_locustfile.py --headless -u 64 -r 64 -t 10s \\
        --host http://127.0.0.1:8000 --csv bare
"""

import os

from locust import FastHttpUser, task

PATH = os.environ.get("BARE_PATH", "/db")


class BareUser(FastHttpUser):
    @task
    def get(self) -> None:
        self.client.get(PATH)
