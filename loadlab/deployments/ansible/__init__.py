"""The ansible backend: the runner's `Lab` on separate machines, each step a playbook
(lab.py), with the commands the playbooks run on the nodes (nodes.py, as
`python -m loadlab.deployments.ansible COMMAND`)."""
