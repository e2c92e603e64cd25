"""The compose backend: docker-compose.yml's services, driven by the same run loop as `local`.

One module per job: `engine` (the Docker engine through the Docker SDK, and the compose and
BuildKit command-line tools), `settings` (what the compose file interpolates), `stack` (one
compose project's life), `images`, `database` (seed and facts), `variants` (one variant at a
time), `swarm` (a cell's Locust swarm from the one SwarmSpec), `sampler` (the process
sampler on the containers' processes), `faults` (the cell watch on containers) and `lab`
(ComposeLab, what the runner sees: loadlab.deployments.base.Lab).

Load goes from the Locust containers to the variant's container over the compose network;
the orchestrator reaches Postgres and the variants (for checks and pg_stat_statements)
through ports published on 127.0.0.1 only.
"""
