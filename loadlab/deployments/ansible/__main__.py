from loadlab.deployments.ansible.nodes import main

main()
