#!/usr/bin/env python3
"""Where the threads of a busy machine wait for a core, during one phase of a run.

Runs a command (`yhconv bench ...`), waits until its standard error prints a
line containing --phase (default "saturation:"), lets --settle seconds pass,
then reads every thread's /proc/PID/task/TID/schedstat (time on a core, time
runnable but waiting for one, and the number of times it was put on one) at
the start and at the end of --seconds, and prints the difference summed per
kind of process: PostgreSQL backends, yhconv servers, the load generator, and
the rest. With --postgres URL it also samples pg_stat_activity every 10 ms
meanwhile and prints what the active backends were waiting for ("CPU" when
nothing: running, or runnable and waiting for a core).

Usage:
  scripts/with-postgres.sh bash -c 'scripts/sched-profile.py --postgres "$YHCONV_TEST_POSTGRES" -- \\
      target/release/yhconv bench --db "$YHCONV_TEST_POSTGRES" --quick --instances 2 \\
      --duration 3 --only fanout --sockets 10000'
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys
import threading
import time

# The query that samples the backends: 10 ms apart, over the phase.
SAMPLER = """
CREATE TEMP TABLE sample (kind text, event text);
DO $$ BEGIN
  FOR i IN 1..{samples} LOOP
    PERFORM pg_stat_clear_snapshot();
    INSERT INTO sample SELECT coalesce(wait_event_type, 'CPU'), coalesce(wait_event, '-')
      FROM pg_stat_activity
      WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid();
    PERFORM pg_sleep(0.01);
  END LOOP;
END $$;
SELECT kind, event, round(count(*) / {samples}.0, 2) AS backends FROM sample GROUP BY 1, 2 ORDER BY 3 DESC;
"""


def kind_of(pid):
    """Which kind of process `pid` is, from its command line."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
    except OSError:
        return None
    words = [a.decode(errors="replace") for a in args if a]
    if comm == "postgres" or (words and words[0].startswith("postgres")):
        return "postgres"
    if any(w.endswith("yhconv") for w in words[:1]):
        if "serve" in words:
            return "yhconv servers"
        if "bench" in words:
            return "load generator"
    return "other"


def snapshot():
    """(kind, tid) -> (ns on a core, ns waiting for one, times put on one)."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        kind = kind_of(pid)
        if kind is None:
            continue
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    on_cpu, waiting, slices = map(int, f.read().split())
            except (OSError, ValueError):
                continue
            out[(kind, tid)] = (on_cpu, waiting, slices)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phase", default="saturation:", help="text of the progress line that starts the phase")
    ap.add_argument("--settle", type=float, default=0.3, help="seconds to let pass after it")
    ap.add_argument("--seconds", type=float, default=2.0, help="seconds to measure")
    ap.add_argument("--postgres", help="also sample pg_stat_activity through this URL")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("give the command to run after --")

    run = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    started = threading.Event()

    def relay():
        for line in run.stderr:
            sys.stderr.write(line)
            if args.phase in line:
                started.set()

    threading.Thread(target=relay, daemon=True).start()
    while not started.wait(0.1):
        if run.poll() is not None:
            sys.exit(f"the command ended before printing {args.phase!r}")
    time.sleep(args.settle)

    sampler = None
    if args.postgres:
        # Debian keeps psql under its version's directory, off the PATH.
        psql = shutil.which("psql") or max(glob.glob("/usr/lib/postgresql/*/bin/psql"), default=None)
        if psql is None:
            sys.exit("--postgres needs psql")
        samples = int(args.seconds / 0.01)
        sampler = subprocess.Popen(
            [psql, args.postgres, "-X", "-q", "-c", SAMPLER.format(samples=samples)],
            stdout=subprocess.PIPE,
            text=True,
        )
    before, t0 = snapshot(), time.monotonic()
    time.sleep(args.seconds)
    after, elapsed = snapshot(), time.monotonic() - t0

    totals = {}
    for key, (on_cpu, waiting, slices) in after.items():
        b = before.get(key, (0, 0, 0))
        t = totals.setdefault(key[0], [0, 0, 0, 0])
        t[0] += on_cpu - b[0]
        t[1] += waiting - b[1]
        t[2] += slices - b[2]
        t[3] += 1
    print(f"\nscheduling over {elapsed:.2f} s of the phase {args.phase!r} ({os.cpu_count()} cores):")
    print(f"{'':16} {'threads':>8} {'on a core':>10} {'waiting':>10} {'wake-ups/s':>11} {'wait each':>10}")
    for kind in sorted(totals, key=lambda k: -totals[k][0]):
        on_cpu, waiting, slices, threads = totals[kind]
        each = waiting / slices / 1e3 if slices else 0.0
        print(
            f"{kind:16} {threads:8} {on_cpu / 1e9 / elapsed:9.2f}c {waiting / 1e9 / elapsed:9.2f}c "
            f"{slices / elapsed:11.0f} {each:8.0f}µs"
        )
    on_cpu = sum(t[0] for t in totals.values()) / 1e9 / elapsed
    waiting = sum(t[1] for t in totals.values()) / 1e9 / elapsed
    print(f"{'all':16} {'':8} {on_cpu:9.2f}c {waiting:9.2f}c  (c: cores' worth, on average)")
    if sampler:
        print("\nactive PostgreSQL backends, on average, by what they waited for:")
        print(sampler.communicate()[0])
    sys.exit(run.wait())


if __name__ == "__main__":
    main()
