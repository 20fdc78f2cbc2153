"""labsim: the simulated lab — a cluster's power, network and nodes on 127.0.0.1,
reached through the real protocols (IPMI, SNMP, SSH). `python -m hacert.labsim INVENTORY`
serves one; `hacert.labsim.runner.start_lab` starts one as a subprocess."""
