"""Labs on AWS or Azure, one guided path: `loadlab cloud up|run|down`.

plan       what a lab will create (counts and sizes per role, region), from the playbooks' own
           defaults (playbooks/group_vars/all/cloud.yml) and the command line
preflight  credentials, region, instance types and image, checked before anything is created
playbooks  ansible-playbook and ansible-inventory with the lab's extra vars, errors classified
guard      destroys what a run created when it fails or is interrupted (unless --keep)
flow       up, run and down chained from the above; state.py remembers a lab between commands
cli        the Typer sub-app `loadlab cloud`

Nothing here imports boto3 or the Azure SDK until a command needs it.
"""
