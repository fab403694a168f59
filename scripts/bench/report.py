#!/usr/bin/env python3
"""Helpers for scripts/bench/run.sh (standard library only).

  report.py summary RESULT.json            -> "ok errors rps p50_ms p99_ms" of one oha run
  report.py cpu-snapshot OUT.json GW_PID UPSTREAM_PID [POSTMASTER_PID]
                                           -> CPU ticks of the machine and of the processes
  report.py cpu-delta A.json B.json OHA_SECONDS
                                           -> "gw pg up oha other idle" in % of one core
  report.py table RESULTS_DIR              -> the results table (one row per scenario)
  report.py merge OUT.json A.json B.json   -> one oha-like JSON of two runs side by side
  report.py floor RESULTS_DIR              -> GaiaRouter against the nginx hop, added latency,
                                              two processes against one
"""

import glob
import json
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def summary(path):
    """(successful 2xx responses, errors, requests/s, p50 ms, p99 ms) of one oha JSON."""
    data = load(path)
    codes = data.get("statusCodeDistribution") or {}
    ok = sum(n for code, n in codes.items() if str(code).startswith("2"))
    not_ok = sum(n for code, n in codes.items() if not str(code).startswith("2"))
    errors = not_ok + sum((data.get("errorDistribution") or {}).values())
    s = data.get("summary") or {}
    total_secs = s.get("total") or 0
    # Successful responses per second of the run (oha's own requestsPerSec counts errors too).
    rps = ok / total_secs if total_secs else 0.0
    pct = data.get("latencyPercentiles") or {}

    def ms(key):
        value = pct.get(key)
        return float("nan") if value is None else value * 1000.0

    return ok, errors, rps, ms("p50"), ms("p99")


# --- CPU accounting from /proc ---------------------------------------------------

def machine_ticks():
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values[:8]), idle


def proc_stat(pid):
    """The command name and the fields after it of /proc/<pid>/stat (field 3 is
    rest[0]), or (None, []) when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None, []
    return text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()


def proc_ticks(pid):
    comm, rest = proc_stat(pid)
    if comm is None:
        return None, 0
    return comm, int(rest[11]) + int(rest[12])  # utime + stime (fields 14, 15)


def reaped_ticks(pid):
    """CPU of a process's children that have exited and been waited for (cutime +
    cstime, fields 16, 17): for the postmaster, the backends that ended during a run,
    whose time is otherwise lost with them."""
    _, rest = proc_stat(pid)
    return int(rest[13]) + int(rest[14]) if rest else 0


def proc_ppid(pid):
    _, rest = proc_stat(pid)
    return rest[1] if rest else None


def cpu_snapshot(out, gw_pids, up_pid, pg_pid=""):
    """Ticks per pid of each group. gw = the comma-separated GW_PIDS (the gateway
    processes, or nginx's master and workers); pg = the postmaster PG_PID and its
    children, or (no PG_PID, e.g. an external $DATABASE_URL) every process named
    postgres."""
    gw = set(filter(None, gw_pids.split(",")))
    total, idle = machine_ticks()
    groups = {"gw": {}, "pg": {}, "up": {}}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        comm, ticks = proc_ticks(entry)
        if comm is None:
            continue
        if entry in gw:
            groups["gw"][entry] = ticks
        elif entry == up_pid:
            groups["up"][entry] = ticks
        elif pg_pid:
            if entry == pg_pid or proc_ppid(entry) == pg_pid:
                groups["pg"][entry] = ticks
        elif comm == "postgres" or comm.startswith("postgres:"):
            groups["pg"][entry] = ticks
    # Backends that exit during a run take their CPU with them; the postmaster
    # (a postgres process whose parent is not one) has it as its children's time.
    for pid in list(groups["pg"]):
        parent = proc_ppid(pid)
        if pid == pg_pid or (not pg_pid and parent is not None and proc_ticks(parent)[0] != "postgres"):
            groups["pg"][f"{pid}-reaped"] = reaped_ticks(pid)
    with open(out, "w") as f:
        json.dump({"total": total, "idle": idle, "groups": groups}, f)


def cpu_delta(a_path, b_path, oha_seconds):
    a, b = load(a_path), load(b_path)
    ncpu = os.cpu_count() or 1
    total = (b["total"] - a["total"]) / ncpu  # ticks of one core over the interval
    if total <= 0:
        return "- - - - - -"
    # Processes alive at the end; those born during the run count from zero. Where
    # the exited ones' time is counted as reaped (PostgreSQL's backends), what they
    # had used before the run is taken off.
    def used(k):
        ticks = sum(t - a["groups"][k].get(pid, 0) for pid, t in b["groups"][k].items())
        if any(pid.endswith("-reaped") for pid in b["groups"][k]):
            ticks -= sum(t for pid, t in a["groups"][k].items() if pid not in b["groups"][k])
        return ticks

    pct = {k: 100.0 * used(k) / total for k in b["groups"]}
    pct["oha"] = 100.0 * float(oha_seconds) * os.sysconf("SC_CLK_TCK") / total
    busy = 100.0 * ((b["total"] - a["total"]) - (b["idle"] - a["idle"])) / total
    idle = 100.0 * (b["idle"] - a["idle"]) / total
    other = max(0.0, busy - sum(pct.values()))
    return f"{pct['gw']:.0f} {pct['pg']:.0f} {pct['up']:.0f} {pct['oha']:.0f} {other:.0f} {idle:.0f}"


# --- the table -------------------------------------------------------------------

def table(results_dir):
    rows = []
    for path in sorted(glob.glob(os.path.join(results_dir, "*.json"))):
        name = os.path.basename(path)[:-5]
        if name.endswith(".warmup") or ".cpu" in name:
            continue
        ok, errors, rps, p50, p99 = summary(path)
        cpu_path = os.path.join(results_dir, name + ".cpu.txt")
        cpu = open(cpu_path).read().split() if os.path.exists(cpu_path) else ["-"] * 6
        commits_path = os.path.join(results_dir, name + ".commits.txt")
        commits = open(commits_path).read().split() if os.path.exists(commits_path) else ["-"] * 2
        order = name.split("_", 1)
        rows.append((order[1] if len(order) == 2 else name, rps, p50, p99, ok, errors, cpu, commits))
    header = (
        f"{'scenario':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ok':>8} {'errors':>7}"
        f"  {'gw%':>5} {'pg%':>5} {'up%':>5} {'oha%':>5} {'other%':>6} {'idle%':>5}  {'commits/s':>9} {'ev/commit':>9}"
    )
    lines = [header, "-" * len(header)]
    for scenario, rps, p50, p99, ok, errors, cpu, commits in rows:
        lines.append(
            f"{scenario:<34} {rps:>8.0f} {p50:>8.2f} {p99:>8.2f} {ok:>8} {errors:>7}"
            f"  {cpu[0]:>5} {cpu[1]:>5} {cpu[2]:>5} {cpu[3]:>5} {cpu[4]:>6} {cpu[5]:>5}  {commits[0]:>9} {commits[1]:>9}"
        )
    ncpu = os.cpu_count() or 1
    lines.append(f"cpu columns: percent of one core over the measured run ({ncpu} cores = {100 * ncpu}%): gw = gaiarouter (both processes in a two-process row; nginx in a hop row; bare_proxy in its rows),")
    lines.append("pg = the embedded cluster's postgres processes (all of them with $DATABASE_URL), up = fake_upstream, oha = the load generator, other = anything else")
    lines.append("busy on the machine (kernel softirq, other users' processes); commits/s and ev/commit: transactions")
    lines.append("of the group-commit writer that wrote this run's RequestCompleted events, and events per transaction")
    return "\n".join(lines)


def merge(out, a_path, b_path):
    """Two runs side by side as one: answers summed over the longer run's time. Exact
    percentiles of the union are not in oha's JSON; the slower run's are taken."""
    a, b = load(a_path), load(b_path)
    codes = {}
    for run in (a, b):
        for code, n in (run.get("statusCodeDistribution") or {}).items():
            codes[code] = codes.get(code, 0) + n
    errors = {}
    for run in (a, b):
        for error, n in (run.get("errorDistribution") or {}).items():
            errors[error] = errors.get(error, 0) + n
    total = max((run.get("summary") or {}).get("total") or 0 for run in (a, b))
    pct = {}
    for key in ("p50", "p99"):
        values = [(run.get("latencyPercentiles") or {}).get(key) for run in (a, b)]
        values = [v for v in values if v is not None]
        pct[key] = max(values) if values else None
    with open(out, "w") as f:
        json.dump({"summary": {"total": total}, "statusCodeDistribution": codes,
                   "errorDistribution": errors, "latencyPercentiles": pct}, f)


def find(results_dir, scenario):
    paths = sorted(glob.glob(os.path.join(results_dir, f"*_{scenario}.json")))
    return summary(paths[0]) if paths else None


def floor(results_dir):
    lines = []
    rows = []
    for kind, label in (("json", "non-streaming"), ("stream", "streaming")):
        hops = glob.glob(os.path.join(results_dir, f"*_nginx-hop_{kind}_c*.json"))
        for c in sorted({int(p.rsplit("_c", 1)[1][:-5]) for p in hops if not p.endswith(".warmup.json")}):
            if c == 1:
                continue
            hop, gw = find(results_dir, f"nginx-hop_{kind}_c{c}"), find(results_dir, f"gateway-openai_{kind}_c{c}")
            if hop and gw and hop[2] > 0:
                rows.append(f"  {label}, {c} clients: GaiaRouter {gw[2]:,.0f} req/s, the nginx hop {hop[2]:,.0f} req/s"
                            f" = {gw[2] / hop[2]:.2f} x")
    if rows:
        lines.append("GaiaRouter against the bare nginx hop (same upstream, same run):")
        lines += rows
    # GaiaRouter's stack alone (bare_proxy): how much of the distance is the stack's,
    # how much GaiaRouter's own work.
    stack = []
    for kind, label in (("json", "non-streaming"), ("stream", "streaming")):
        for c in (64, 256):
            hop, bare, gw = (find(results_dir, f"{s}_{kind}_c{c}") for s in ("nginx-hop", "bare-proxy", "gateway-openai"))
            if bare and hop and gw and hop[2] > 0 and bare[2] > 0:
                stack.append(f"  {label}, {c} clients: bare_proxy {bare[2]:,.0f} req/s = {bare[2] / hop[2]:.2f} x the hop;"
                             f" GaiaRouter = {gw[2] / bare[2]:.2f} x bare_proxy")
    if stack:
        lines.append("GaiaRouter's stack without its work (bare_proxy: same server, client, runtime, allocator):")
        lines += stack
    direct, hop, gw = (find(results_dir, f"{s}_json_c1") for s in ("direct-upstream", "nginx-hop", "gateway-openai"))
    if direct and gw:
        added = f"p50 +{gw[3] - direct[3]:.2f} ms, p99 +{gw[4] - direct[4]:.2f} ms"
        line = (f"added latency at one client, non-streaming: GaiaRouter {added} (p50 {gw[3]:.2f} / p99 {gw[4]:.2f}"
                f" against {direct[3]:.2f} / {direct[4]:.2f} ms direct)")
        if hop:
            line += f"; the nginx hop p50 +{hop[3] - direct[3]:.2f} ms, p99 +{hop[4] - direct[4]:.2f} ms"
        bare = find(results_dir, "bare-proxy_json_c1")
        if bare:
            line += f"; bare_proxy p50 +{bare[3] - direct[3]:.2f} ms, p99 +{bare[4] - direct[4]:.2f} ms"
        lines.append(line)
    one, two = find(results_dir, "gateway-one-process_json_2x32"), find(results_dir, "gateway-two-processes_json_2x32")
    if one and two and one[2] > 0:
        lines.append(f"two GaiaRouter processes on one database: {two[2]:,.0f} req/s against {one[2]:,.0f} for one"
                     f" process (2 x 32 clients each): {two[2] / one[2]:.2f} x")
    return "\n".join(lines)


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    command = argv[1]
    if command == "summary":
        ok, errors, rps, p50, p99 = summary(argv[2])
        sys.stdout.write(f"{ok} {errors} {rps:.1f} {p50:.2f} {p99:.2f}\n")
    elif command == "answered":
        # Every answer, whatever its status (a refused request is answered too): per second, p50, p99.
        data = load(argv[2])
        codes = data.get("statusCodeDistribution") or {}
        total_secs = (data.get("summary") or {}).get("total") or 0
        answered = sum(codes.values())
        pct = data.get("latencyPercentiles") or {}
        p50, p99 = (pct.get(k) for k in ("p50", "p99"))
        sys.stdout.write(
            f"{answered / total_secs if total_secs else 0:.1f} {(p50 or 0) * 1000:.2f} {(p99 or 0) * 1000:.2f} "
            f"{' '.join(f'{c}:{n}' for c, n in sorted(codes.items()))}\n"
        )
    elif command == "cpu-snapshot":
        cpu_snapshot(argv[2], argv[3], argv[4], argv[5] if len(argv) > 5 else "")
    elif command == "cpu-delta":
        sys.stdout.write(cpu_delta(argv[2], argv[3], argv[4]) + "\n")
    elif command == "merge":
        merge(argv[2], argv[3], argv[4])
    elif command == "floor":
        sys.stdout.write(floor(argv[2]) + "\n")
    elif command == "table":
        sys.stdout.write(table(argv[2]) + "\n")
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
