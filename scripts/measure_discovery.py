#!/usr/bin/env python3
"""Keeping a car's topics on the car: which discovery settings still deliver full-size images
between the car's own processes, and which hide them from other machines.

  .venv/bin/python scripts/measure_discovery.py [--seconds 4] [--rate 20] [--repeat 1]
      [--settings shm,shm+range_localhost,shm+localhost_only,shm_localhost] [--json out.json]
      (as root for the other-host outsider, or --no-netns; ~10 s per setting and run)

Every setting is the shared-memory profile (config/fastdds_shm.xml) plus one way of keeping
discovery on the car, in the environment of the car's two processes:
  shm                  the profile alone (the reference: what happens at an event by default)
  shm+range_localhost  ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST (Iron, Jazzy and newer)
  shm+localhost_only   ROS_LOCALHOST_ONLY=1 (Humble; deprecated since Jazzy)
  shm_localhost        config/fastdds_shm_localhost.xml: the same profile, its UDP transport
                       restricted to the loopback interface, nothing else set
and, named with --settings only:
  large_data, large_data+range_localhost   FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA without and
                       with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST (ARCHITECTURE section 6)
  shm_fastdds_var_only, shm_fastrtps_var_only   the SHM profile named by one variable only,
                       FASTDDS_DEFAULT_PROFILES_FILE or FASTRTPS_DEFAULT_PROFILES_FILE: which
                       one the installed Fast DDS reads (the other delivers as the default
                       transports do)

For each setting, in a fresh random ROS_DOMAIN_ID:
  1. delivery: a publisher (a camera driver) sends 1280x720 bgr8 left+right pairs, best effort,
     at --rate for --seconds to a best-effort subscriber (the node) in another process:
     pairs delivered / sent, latency p50, discovery time (scripts/measure_transports.py's roles)
  2. while it runs, two outsiders with Fast DDS' default settings (someone else's laptop) look
     for the image topics and subscribe to them:
       other-domain  the same machine, another ROS_DOMAIN_ID
       other-host    the SAME ROS_DOMAIN_ID in another network namespace joined to this one by
                     a veth pair (another machine on the same network; needs root: `ip netns`)
     Each watches until the car's two processes have ended, and reports whether it saw the
     topics in its graph and how many images it received. The other-host outsider finds the
     car through the discovery announcements Fast DDS repeats every 3 s, so a car that runs
     for less than that can end unseen (a 1 s run: 2 of 8 unseen): --seconds 4 or more where
     that outsider runs.

Prints a Markdown table (and --json). The outsider role (--role spy) is this script run as a
child process; the car's roles are measure_transports.py's.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure_transports import (ROOT, TOPICS, XML, config_env, measure_delivery,  # noqa: E402
                                profile_variable)

RESTRICTED = ROOT / "config" / "fastdds_shm_localhost.xml"
# name -> (profile, named by the variable the installed Fast DDS reads, or None: transports
# from measure_transports.py's set-up; what is set on top of it)
LOCALHOST_RANGE = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
SETTINGS: dict[str, tuple[Path | str, dict[str, str]]] = {
    "shm": (XML, {}),
    "shm+range_localhost": (XML, LOCALHOST_RANGE),
    "shm+localhost_only": (XML, {"ROS_LOCALHOST_ONLY": "1"}),
    "shm_localhost": (RESTRICTED, {}),
    # not run by default: the combination ARCHITECTURE section 6 warns about
    "large_data": ("large_data", {}),
    "large_data+range_localhost": ("large_data", LOCALHOST_RANGE),
    # which variable the installed Fast DDS reads: the shared-memory profile named by one only
    "shm_fastdds_var_only": ("default", {"FASTDDS_DEFAULT_PROFILES_FILE": str(XML)}),
    "shm_fastrtps_var_only": ("default", {"FASTRTPS_DEFAULT_PROFILES_FILE": str(XML)}),
}
DEFAULT_SETTINGS = "shm,shm+range_localhost,shm+localhost_only,shm_localhost"


def car_env(setting: str, domain: int) -> dict[str, str]:
    transports, extra = SETTINGS[setting]
    if isinstance(transports, Path):
        env = config_env("default", domain)
        env[profile_variable(env)] = str(transports)  # the one the installed Fast DDS reads
    else:
        env = config_env(transports, domain)  # no discovery variable set
    env.update(extra)
    return env


def outsider_env(domain: int) -> dict[str, str]:
    """Someone else's laptop: Fast DDS' defaults (no profile, no discovery range)."""
    return config_env("default", domain)


# ------------------------------------------------------------------------------ outsider role
def role_spy(args: argparse.Namespace) -> int:
    """Spin until standard input closes (the car is done; at most --spy-seconds); print one JSON
    line: the car's topics seen in the graph, images received."""
    import threading

    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    rclpy.init()
    node = rclpy.create_node("outsider")
    images = [0]
    for t in TOPICS:
        node.create_subscription(Image, t, lambda m: images.__setitem__(0, images[0] + 1),
                                 qos_profile_sensor_data)
    wanted = {"/" + t for t in TOPICS}
    seen: set[str] = set()
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    print("READY", flush=True)
    end = time.monotonic() + args.spy_seconds
    try:
        while time.monotonic() < end and not done.is_set():
            rclpy.spin_once(node, timeout_sec=0.1)
            # our own subscriptions put the names in the graph: count a topic as seen only
            # when someone else publishes it
            seen |= {name for name in wanted if node.count_publishers(name) > 0}
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    print(json.dumps({"topics_seen": sorted(seen), "images": images[0]}), flush=True)
    return 0


def spy(env: dict[str, str], seconds: float, netns: str | None = None) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--role", "spy", "--spy-seconds", str(seconds)]
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    return subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def spy_result(proc: subprocess.Popen, timeout: float) -> dict:
    """Tell the outsider the car is done (its standard input closes), then read its report."""
    out, err = proc.communicate(timeout=timeout)
    lines = [ln for ln in out.strip().splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (err or out)[-300:]}
    return json.loads(lines[-1])


# ------------------------------------------------------------------------------ network namespace
def netns_up(name: str) -> str | None:
    """A network namespace joined to this one by a veth pair; None when it worked, else why not."""
    veth, subnet = f"v{os.getpid() % 100000}", f"10.213.{os.getpid() % 250}"  # one per run
    host, peer = subnet + ".1", subnet + ".2"
    steps = [["ip", "netns", "add", name],
             ["ip", "link", "add", veth + "h", "type", "veth", "peer", "name", veth + "n"],
             ["ip", "link", "set", veth + "n", "netns", name],
             ["ip", "addr", "add", host + "/24", "dev", veth + "h"],
             ["ip", "link", "set", veth + "h", "up"],
             ["ip", "netns", "exec", name, "ip", "addr", "add", peer + "/24", "dev",
              veth + "n"],
             ["ip", "netns", "exec", name, "ip", "link", "set", veth + "n", "up"],
             ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
             ["ip", "netns", "exec", name, "ip", "route", "add", "default", "via", host]]
    for step in steps:
        run = subprocess.run(step, capture_output=True, text=True)
        if run.returncode != 0:
            netns_down(name)
            return f"{' '.join(step)}: {run.stderr.strip()}"
    return None


def netns_down(name: str) -> None:
    subprocess.run(["ip", "netns", "del", name], capture_output=True)  # takes the veth pair along


# ------------------------------------------------------------------------------ one setting
def measure(setting: str, seconds: float, rate: float, netns: str | None) -> dict:
    domain = random.randint(101, 200)
    env = car_env(setting, domain)
    spy_seconds = seconds + 120  # a bound only: the outsiders watch until the car is done
    spies = {"other-domain": spy(outsider_env(domain + 1 if domain < 200 else 100),
                                 spy_seconds)}
    if netns:
        spies["other-host"] = spy(outsider_env(domain), spy_seconds, netns)
    delivery = measure_delivery(env, seconds, rate, wait=(30, 20))
    stderr = delivery.pop("stderr")
    warnings = sorted({re.sub(r"\[\d+\.\d+\] ", "", ln.strip())[:240]
                       for ln in stderr.splitlines() if "WARN" in ln or "deprecat" in ln.lower()})
    return {"domain": domain, "environment": {k: v for k, v in car_env(setting, domain).items()
                            if k.startswith(("FASTDDS", "FASTRTPS", "ROS_A", "ROS_L"))},
            **{k: delivery[k] for k in ("sent_pairs", "delivered_pairs", "delivered_pct",
                                        "latency_ms_p50", "discovery_s")},
            "warnings": warnings,
            "outsiders": {name: spy_result(proc, 30)
                          for name, proc in spies.items()}}


def outsider_cell(result: dict | None) -> str:
    if result is None:
        return "-"
    if "error" in result:
        return f"error: {result['error'][:60]}"
    seen = "sees the topics" if result["topics_seen"] else "sees nothing"
    return f"{seen}, {result['images']} images"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--settings", default=DEFAULT_SETTINGS,
                    help=f"comma list of {', '.join(SETTINGS)} (default {DEFAULT_SETTINGS})")
    ap.add_argument("--seconds", type=float, default=4.0, help="delivery run length (4 s)")
    ap.add_argument("--rate", type=float, default=20.0, help="pairs per second (20)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each setting (1)")
    ap.add_argument("--no-netns", action="store_true",
                    help="skip the other-host outsider (it needs root for `ip netns`)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--role", choices=("spy",), help=argparse.SUPPRESS)
    ap.add_argument("--spy-seconds", type=float, default=10.0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.role == "spy":
        return role_spy(args)
    if not args.no_netns and args.seconds < 4:
        ap.error("the other-host outsider finds the car through announcements repeated every "
                 "3 s: --seconds 4 or more (or --no-netns)")
    settings = [s for s in args.settings.split(",") if s]
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        ap.error(f"unknown settings {unknown}: choose from {', '.join(SETTINGS)}")
    netns = None
    if not args.no_netns:
        netns = f"yst_outsider_{os.getpid()}"
        why = netns_up(netns)
        if why:
            print(f"no other-host outsider ({why})", file=sys.stderr)
            netns = None
    results: dict[str, list[dict]] = {}
    try:
        for k in range(args.repeat):
            for name in settings:
                print(f"{name} (run {k + 1}/{args.repeat}): {args.seconds:g} s at "
                      f"{args.rate:g} Hz ...", file=sys.stderr, flush=True)
                results.setdefault(name, []).append(measure(name, args.seconds, args.rate,
                                                            netns))
    finally:
        if netns:
            netns_down(netns)
    print("| setting (both car processes) | pairs delivered | latency p50 (ms) | discovery (s) "
          "| outsider: other ROS_DOMAIN_ID, same machine | outsider: same ROS_DOMAIN_ID, "
          "other network namespace |")
    print("|---|---:|---:|---:|---|---|")
    for name, r in ((name, r) for name, runs in results.items() for r in runs):
        print(f"| {name} | {r['delivered_pairs']}/{r['sent_pairs']} ({r['delivered_pct']} %) | "
              f"{r['latency_ms_p50']} | {r['discovery_s']} | "
              f"{outsider_cell(r['outsiders'].get('other-domain'))} | "
              f"{outsider_cell(r['outsiders'].get('other-host'))} |")
    for name, runs in results.items():
        for line in sorted({line for r in runs for line in r["warnings"]}):
            print(f"{name}: {line}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
