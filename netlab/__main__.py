"""`python -m hacert.netlab up|down|status INVENTORY [--workdir DIR]` (root; see README.md, "netlab")."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hacert.model.inventory import InventoryError, load_inventory

from .config import NetlabError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hacert.netlab")
    parser.add_argument("command", choices=["up", "down", "check", "_serve"])
    parser.add_argument("inventory", nargs="?")
    parser.add_argument("--workdir", default=None, help="default: the inventory's netlab.workdir (/tmp/netlab)")
    parser.add_argument("--owner", type=int, default=None, help=argparse.SUPPRESS)  # _serve: tear down when PID ends
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            from .ns import missing_requirements

            problems = missing_requirements()
            for problem in problems:
                print(f"netlab: {problem}", file=sys.stderr)
            return 1 if problems else 0
        if not args.inventory:
            parser.error("INVENTORY is required")
        inv = load_inventory(args.inventory)
        from .ns import require

        require()
        if args.command == "_serve":
            from .config import Plan
            from .supervisor import serve

            plan = Plan.of(inv, Path(args.workdir) if args.workdir else None)
            return serve(inv, plan.workdir.parent, owner=args.owner)
        if args.command == "down":
            from .runner import down

            left = down(inv, args.workdir)
            if left:
                print("netlab down: left behind: " + ", ".join(left), file=sys.stderr)
                return 1
            print(f"netlab down: {inv.lab}: nothing of netlab's is left")
            return 0
        from .runner import down, start_netlab

        down(inv, args.workdir)
        started = time.monotonic()
        running = start_netlab(inv, args.workdir, reuse=False, outlive_caller=True)
        ep = running.endpoints
        print(f"netlab up: {inv.lab}: cluster quorate, every node online, in {time.monotonic() - started:.1f} s; "
              f"memory {ep['memory_mb']} MB (PSS); supervisor pid {running.pid}; log {running.log_path}")
        for name, node in ep["nodes"].items():
            print(f"  {name}: ssh root@127.0.0.1 -p {node['ssh']['port']}  bmc 127.0.0.1:{node['bmc']['port']}  "
                  f"netns {ep['netlab']['node_netns'][name]} ({ep['netlab']['node_addresses'][name]})")
        for name, pdu in ep["pdus"].items():
            print(f"  {name}: snmp 127.0.0.1:{pdu['port']}")
        print(f"  credentials: {Path(ep['workdir']) / 'endpoints.json'}")
        json.dumps(ep)
        return 0
    except (NetlabError, InventoryError) as exc:
        print(f"netlab: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
