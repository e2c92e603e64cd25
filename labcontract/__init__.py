"""What `loadlab/` (the orchestrator) and `loadtests/` (the Locust side) agree on, in one place.

Both sides import this package, so it imports neither of them (an import-linter contract
keeps it so) and needs only pydantic and the standard library: it ships into the Locust
image and onto every Ansible node beside `loadtests/`.

- `labcontract.env`: every LOADLAB_* variable of the Locust swarm, `SwarmEnv`;
- `labcontract.measurement`: `measurement.json`, written by the master, read by the lab;
- `labcontract.resources`: the columns of `resources.csv`;
- `labcontract.dataset`: the seed and the table sizes per scale;
- `labcontract.versions`: the schema versions of the results files and their check.
"""
