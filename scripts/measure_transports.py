#!/usr/bin/env python3
"""Compare Fast DDS transport set-ups for 1280x720 stereo images on one machine.

  .venv/bin/python scripts/measure_transports.py [--cycles 100] [--seconds 10] [--rate 20]
      [--configs default,large_data,xml] [--json out.json]

For each set-up (environment of EVERY process it starts):
  default     Fast DDS' builtin transports (UDPv4 + SHM with default sizes)
  large_data  FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA (UDP discovery, TCP + SHM for data)
  xml         config/fastdds_shm.xml (one SHM transport sized for large images + UDPv4,
              builtin transports off) via FASTDDS_/FASTRTPS_DEFAULT_PROFILES_FILE

it measures, with separate processes as a camera driver and the node would be:
  1. delivery: a publisher sends left+right bgr8 1280x720 pairs (best effort, sensor-data QoS,
     as camera drivers do) at --rate for --seconds to a best-effort subscriber; delivered pairs
     (both sides of a stamp received) / sent, and header stamp -> receive latency p50/p99
  2. discovery: publisher start -> both image topics matched, seconds
  3. start/stop: with a publisher running, a subscriber process is started --cycles times; a
     start that receives no image within --stall-timeout s is a stall; each is then stopped
     with SIGINT: its exit status, whether it printed a traceback, whether it ignored SIGINT
     (killed after 5 s)

Each set-up runs in its own random ROS_DOMAIN_ID. Prints a Markdown table (and --json).
The roles (--role pub|sub) are this script run as child processes.
"""
from __future__ import annotations

import argparse
import array
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from yolo_stereo_trt.core.paths import profile_variable  # noqa: E402

XML = ROOT / "config" / "fastdds_shm.xml"
TOPICS = ("left/image_raw", "right/image_raw")
WIDTH, HEIGHT = 1280, 720


def config_env(name: str, domain: int) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("FASTDDS_BUILTIN_TRANSPORTS", "FASTDDS_DEFAULT_PROFILES_FILE",
                "FASTRTPS_DEFAULT_PROFILES_FILE", "RMW_FASTRTPS_USE_QOS_FROM_XML",
                "ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOCALHOST_ONLY"):
        env.pop(key, None)
    env["RMW_IMPLEMENTATION"] = "rmw_fastrtps_cpp"
    env["ROS_DOMAIN_ID"] = str(domain)
    env["PYTHONUNBUFFERED"] = "1"
    if name == "large_data":
        env["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
    elif name == "xml":
        env[profile_variable(env)] = str(XML)  # the one the installed Fast DDS reads
    elif name != "default":
        raise ValueError(f"unknown set-up {name!r}")
    return env


# ------------------------------------------------------------------------------ roles
def role_pub(args: argparse.Namespace) -> int:
    """Publish pairs; print one JSON line {discovery_s, sent} at the end."""
    import numpy as np
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    start = time.monotonic()
    rclpy.init()
    node = rclpy.create_node("transport_pub")
    qos = qos_profile_sensor_data
    pubs = [node.create_publisher(Image, t, qos) for t in TOPICS]
    frame = array.array("B", np.random.default_rng(0).integers(0, 255, HEIGHT * WIDTH * 3,
                                                                np.uint8).tobytes())
    msgs = []
    for side in range(2):
        msg = Image(height=HEIGHT, width=WIDTH, encoding="bgr8", step=WIDTH * 3, data=frame)
        msg.header.frame_id = ("left", "right")[side]
        msgs.append(msg)
    discovery = None
    sent = 0
    try:
        while time.monotonic() - start < args.wait:
            if all(p.get_subscription_count() > 0 for p in pubs):
                discovery = time.monotonic() - start
                break
            rclpy.spin_once(node, timeout_sec=0.01)
        if discovery is None and not args.forever:
            print(json.dumps({"discovery_s": None, "sent": 0}), flush=True)
            return 0
        time.sleep(args.settle)
        period = 1.0 / args.rate
        t_next = time.monotonic()
        end = t_next + args.seconds
        while args.forever or time.monotonic() < end:
            now_ns = time.time_ns()
            for msg, pub in zip(msgs, pubs):
                msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now_ns, 10**9)
                pub.publish(msg)
            sent += 1
            t_next += period
            time.sleep(max(0.0, t_next - time.monotonic()))
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    print(json.dumps({"discovery_s": discovery, "sent": sent}), flush=True)
    return 0


def role_sub(args: argparse.Namespace) -> int:
    """Receive images. --first-only: print FIRST <s> at the first image, then spin until SIGINT.
    Otherwise: stop --idle s after the last image (or --wait without any) and print JSON."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    start = time.monotonic()
    rclpy.init()
    node = rclpy.create_node("transport_sub")
    received: list[tuple[int, int, int]] = []  # side, stamp ns, receive ns
    first = []

    def on_image(side: int, msg: Image) -> None:
        now = time.time_ns()
        received.append((side, msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec, now))
        if args.first_only and not first:
            first.append(time.monotonic() - start)
            print(f"FIRST {first[0]:.3f}", flush=True)

    for side, t in enumerate(TOPICS):
        node.create_subscription(Image, t, lambda m, s=side: on_image(s, m),
                                 qos_profile_sensor_data)
    print("READY", flush=True)
    try:
        if args.first_only:
            rclpy.spin(node)
        else:
            while True:
                rclpy.spin_once(node, timeout_sec=0.05)
                last = received[-1][2] / 1e9 if received else None
                if last is not None and time.time() - last > args.idle:
                    break
                if last is None and time.monotonic() - start > args.wait:
                    break
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        # Measured: SIGINT while rclpy converts a large message in take_message surfaces as
        # RuntimeError("Unable to convert call argument '0' to Python object"), after rclpy's
        # handler shut the context down. Counted by the parent, not a transport problem.
        if rclpy.ok():
            raise
        print("SIGINT_IN_TAKE", file=sys.stderr, flush=True)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    if not args.first_only:
        print(json.dumps({"received": received}), flush=True)
    return 0


# ------------------------------------------------------------------------------ measurements
def child(role: str, env: dict[str, str], *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--role", role, *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))], 2)


def measure_delivery(env: dict[str, str], seconds: float, rate: float,
                     wait: tuple[float, float] = (60, 30)) -> dict:
    """One publisher and one subscriber of full-size pairs: delivered / sent, latency,
    discovery; ``stderr``: what both printed. ``wait``: how long the subscriber and the
    publisher wait for each other (s)."""
    sub = child("sub", env, "--idle", "3", "--wait", str(seconds + wait[0]))
    assert sub.stdout is not None
    sub.stdout.readline()  # READY
    pub = child("pub", env, "--seconds", str(seconds), "--rate", str(rate), "--wait",
                str(wait[1]))
    pub_out, pub_err = pub.communicate(timeout=seconds + 90)
    sub_out, sub_err = sub.communicate(timeout=seconds + 120)
    p = json.loads(pub_out.strip().splitlines()[-1])
    received = json.loads(sub_out.strip().splitlines()[-1])["received"]
    stamps = [set(), set()]
    latency = []
    for side, stamp, recv in received:
        stamps[side].add(stamp)
        latency.append((recv - stamp) / 1e6)
    pairs = len(stamps[0] & stamps[1])
    sent = p["sent"]
    return {"sent_pairs": sent, "delivered_pairs": pairs,
            "delivered_pct": round(100 * pairs / sent, 1) if sent else None,
            "left": len(stamps[0]), "right": len(stamps[1]),
            "latency_ms_p50": percentile(latency, 50), "latency_ms_p99": percentile(latency, 99),
            "discovery_s": round(p["discovery_s"], 3) if p["discovery_s"] is not None else None,
            "stderr": pub_err + sub_err}


def stop(proc: subprocess.Popen, timeout: float = 5.0) -> tuple[int | None, bool, str]:
    """SIGINT; (exit status, killed because it ignored SIGINT, stderr)."""
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=timeout)
        return proc.returncode, False, err
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        return proc.returncode, True, err


def measure_cycles(env: dict[str, str], cycles: int, stall_timeout: float, rate: float,
                   progress: bool) -> dict:
    import selectors
    pub = child("pub", env, "--forever", "--rate", str(rate), "--wait", "1e9")
    firsts, stalls, deaf, tracebacks, exits, samples, in_take = [], 0, 0, 0, {}, [], 0
    try:
        for k in range(cycles):
            sub = child("sub", env, "--first-only")
            assert sub.stdout is not None
            sel = selectors.DefaultSelector()
            sel.register(sub.stdout, selectors.EVENT_READ)
            t0, got = time.monotonic(), None
            while got is None and time.monotonic() - t0 < stall_timeout:
                if sel.select(timeout=0.1):
                    line = sub.stdout.readline()
                    if not line:
                        break
                    if line.startswith("FIRST"):
                        got = float(line.split()[1])
            sel.close()
            if got is None:
                stalls += 1
            else:
                firsts.append(got)
            rc, killed, err = stop(sub)
            deaf += killed
            in_take += "SIGINT_IN_TAKE" in err
            if "Traceback" in err:
                tracebacks += 1
                samples.append(err[err.index("Traceback"):][-600:])
            exits[str(rc)] = exits.get(str(rc), 0) + 1
            if progress:
                print(f"  cycle {k + 1}/{cycles}: "
                      f"{'first image %.2f s' % got if got is not None else 'STALL'}, exit {rc}"
                      f"{' (killed: ignored SIGINT)' if killed else ''}", file=sys.stderr,
                      flush=True)
    finally:
        stop(pub)
    return {"cycles": cycles, "stalls": stalls, "ignored_sigint": deaf,
            "tracebacks": tracebacks, "traceback_samples": samples[:3],
            "sigint_in_take_message": in_take, "exit_status": exits,
            "first_image_s_p50": percentile(firsts, 50), "first_image_s_max":
                round(max(firsts), 2) if firsts else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="default,large_data,xml")
    ap.add_argument("--cycles", type=int, default=100, help="start/stop cycles per set-up (100)")
    ap.add_argument("--seconds", type=float, default=10.0, help="delivery run length (10 s)")
    ap.add_argument("--rate", type=float, default=20.0, help="pairs per second (20)")
    ap.add_argument("--stall-timeout", type=float, default=10.0,
                    help="a start without an image after this many seconds is a stall (10)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--quiet", action="store_true", help="no per-cycle lines")
    # child roles
    ap.add_argument("--role", choices=("pub", "sub"), help=argparse.SUPPRESS)
    ap.add_argument("--forever", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--first-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--wait", type=float, default=30.0, help=argparse.SUPPRESS)
    ap.add_argument("--idle", type=float, default=3.0, help=argparse.SUPPRESS)
    ap.add_argument("--settle", type=float, default=0.5, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.role == "pub":
        return role_pub(args)
    if args.role == "sub":
        return role_sub(args)
    configs = [c for c in args.configs.split(",") if c]
    if args.cycles < 0 or args.seconds <= 0 or args.rate <= 0:
        ap.error("--cycles must be >= 0, --seconds and --rate > 0")
    results = {}
    for name in configs:
        try:
            env = config_env(name, random.randint(101, 200))
        except ValueError as exc:
            ap.error(str(exc))
        print(f"{name}: delivery over {args.seconds:g} s at {args.rate:g} Hz ...", file=sys.stderr,
              flush=True)
        result = measure_delivery(env, args.seconds, args.rate)
        if args.cycles:
            print(f"{name}: {args.cycles} start/stop cycles ...", file=sys.stderr, flush=True)
            result.update(measure_cycles(env, args.cycles, args.stall_timeout, args.rate,
                                         not args.quiet))
        results[name] = result
    print("| set-up | pairs delivered | latency p50 / p99 (ms) | discovery (s) | stalls / "
          "starts | ignored SIGINT | tracebacks | SIGINT in take | exit status |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, r in results.items():
        cycles = (f"{r['stalls']} / {r['cycles']} | {r['ignored_sigint']} | {r['tracebacks']} | "
                  f"{r['sigint_in_take_message']} | "
                  f"{', '.join(f'{k}: {v}' for k, v in sorted(r['exit_status'].items()))}"
                  if "cycles" in r else "- | - | - | - | -")
        print(f"| {name} | {r['delivered_pairs']}/{r['sent_pairs']} ({r['delivered_pct']} %) | "
              f"{r['latency_ms_p50']} / {r['latency_ms_p99']} | {r['discovery_s']} | {cycles} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
