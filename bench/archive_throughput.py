"""Archive throughput: mm's archive job against `smbclient` and `rclone copy`, to Samba and to S3.

Target: mm ≥ 0.8 × the faster of the two tools, per target, with memory flat. The seed's tested
figures are 18,000 × 5 MB to a NAS in about an hour (25 MB/s) and 3,000 × 15 MB in about 8 minutes
(94 MB/s); this measures 2,000 × 5 MB (``--quick``: 50 × 1 MB) on loopback.

A fresh data directory gets N catalogued recordings whose files are random bytes (a few distinct
contents, hard-linked, so the source is always in the page cache and the disk is measured only on
the receiving side); each catalogue row carries its file's real size and SHA-256. The targets:

- ``smb``: a real ``smbd`` (tests/stores/samba.py);
- ``s3-moto``: moto's server in its own process, the S3 server of the test suite;
- ``s3-s3rver``: s3rver (Node). Both S3 servers run by default because neither is neutral: the
  server spends as much CPU as the client here (moto more per request than s3rver), and which of
  the two favoured mm or rclone changed from run to run. A fresh S3 server serves every copy.

On each target, one copy by each of:

- **mm**: a new connector on the server, activated, and ``Archiver.run_once()`` in a child
  process (an Engine on the data directory, as the service runs it): hash, upload, size check,
  tail read-back, one catalogue transaction per copy. The child reports its wall and CPU time
  around the run, its peak RSS (``ru_maxrss``) and its RSS after every copy.
- **smbclient** (Samba only): ``prompt OFF; recurse ON; lcd SRC; mkdir D; cd D; mput *``.
- **rclone copy** (its defaults: 4 transfers), remotes given by environment variables.

Every copy is checked after it is timed: every relative path arrived with the right size, and a
sample of files is hashed on the server side. Each round runs every tool once, starting one tool
further along each time (the first copy of a round meets memory the VM has not touched lately,
which makes the *server* write up to 4 × slower: see :func:`in_turn`), and the fastest round of
each counts, since other load on the machine only adds time. CPU seconds
of the copying process and of the server (with its workers) are reported beside wall time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_RATIO = 0.8
PEAK_RSS_LIMIT_MB = 200.0  # the ingest bench's limit: the service does both in one process
RSS_GROWTH_LIMIT_MB = 16.0  # "flat": what RSS may grow between 10 % of the run and its end
FULL = (2000, 5_000_000)
QUICK = (50, 1_000_000)
DISTINCT = 40  # distinct file contents, hard-linked to make N files
PER_DAY = 50  # recordings per day folder (YYYY/MM/DD)
SAMPLE = 20  # files hashed on the receiving side per copy
FOLDER = "archive"  # parent folder on every target
MB = 1_000_000
MiB = 1 << 20
CET = timezone(timedelta(hours=1))
SMB_CLIENT = "/usr/bin/smbclient"
RCLONE = "/usr/bin/rclone"


# -- the data directory -----------------------------------------------------------------------


@dataclass(frozen=True)
class Library:
    home: Path  # the mm data directory
    source: Path  # its call storage: the tree every tool copies
    files: dict[str, str]  # relative path -> sha256
    size: int

    @property
    def total_bytes(self) -> int:
        return self.size * len(self.files)


def build_library(work: Path, count: int, size: int) -> Library:
    """An Engine data directory with ``count`` catalogued recordings of ``size`` random bytes."""
    from mm_engine.catalogue import NewRecording, insert_recording
    from mm_engine.domain import CallDetails, Direction
    from mm_engine.engine import Engine

    home = work / "home"
    blobs = work / "distinct"
    blobs.mkdir(parents=True)
    digests = []
    for i in range(min(DISTINCT, count)):
        data = os.urandom(size)
        (blobs / f"{i}.bin").write_bytes(data)
        digests.append(hashlib.sha256(data).hexdigest())
    files: dict[str, str] = {}
    first = datetime(2026, 3, 2, 8, 0, tzinfo=CET)
    with Engine(home) as engine:
        source = engine.config.path("call_storage_path")  # local call storage (the default)
        rows = []
        for n in range(count):
            start = first + timedelta(days=n // PER_DAY, seconds=37 * (n % PER_DAY))
            call_id = f"B{n:06d}"
            path = f"{start:%Y/%m/%d}/{call_id}-1.opus"
            target = source / path
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(blobs / f"{n % len(digests)}.bin", target)
            digest = digests[n % len(digests)]
            files[path] = digest
            details = CallDetails(
                call_id=call_id,
                start=start,
                direction=Direction.INBOUND,
                parties=[f"+3120{n:07d}", "201"],
                agents=["Bench Agent"],
            )
            rows.append(
                NewRecording(
                    details=details,
                    duration_s=size / (100_000 / 60),
                    path=path,
                    size=size,
                    sha256=digest,
                    signature=engine.signer.sign(digest, details.to_dict()),
                    key_id=engine.signer.key_id,
                    source_key=uuid.uuid4().hex,
                    source_name=f"{call_id}.wav",
                )
            )

        def insert(conn: Any) -> None:
            for rec in rows:
                insert_recording(conn, rec, 1)

        engine.db.write(insert)
    return Library(home, source, files, size)


# -- one copy ---------------------------------------------------------------------------------


@dataclass
class Copy:
    tool: str
    target: str
    round: int
    seconds: float
    cpu_s: float  # the copying process (mm's child, or the tool), user + system
    server_cpu_s: float  # the server process and its workers
    files_arrived: int
    files_expected: int
    bytes: int
    sample_hashed: int
    sample_ok: bool
    detail: dict[str, Any]

    @property
    def complete(self) -> bool:
        return self.files_arrived == self.files_expected and self.sample_ok

    def figures(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "target": self.target,
            "round": self.round,
            "seconds": round(self.seconds, 2),
            "mb_per_s": round(self.bytes / MB / self.seconds, 1),
            "files_per_s": round(self.files_expected / self.seconds, 2),
            "cpu_s": round(self.cpu_s, 2),
            "server_cpu_s": round(self.server_cpu_s, 2),
            "files_arrived": self.files_arrived,
            "files_expected": self.files_expected,
            "sample_hashed": self.sample_hashed,
            "sample_ok": self.sample_ok,
            "complete": self.complete,
            **self.detail,
        }


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def server_children(pid: int) -> set[int]:
    import psutil

    try:
        return {c.pid for c in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def server_cpu(pid: int, settle_from: set[int] | None = None) -> float:
    """CPU seconds of a server and its workers, living or reaped. With ``settle_from`` (the
    workers before a copy), first wait until the workers that served the copy have been
    reaped, so their time is in the server's own figures rather than lost in between."""
    import psutil

    if settle_from is not None:
        deadline = time.monotonic() + 10
        while server_children(pid) - settle_from and time.monotonic() < deadline:
            time.sleep(0.05)
    try:
        proc = psutil.Process(pid)
        times = proc.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in proc.children(recursive=True):
            try:
                t = child.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return float(total)
    except psutil.NoSuchProcess:
        return 0.0


def timed_tool(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Run a tool to completion; (wall seconds, CPU seconds). A failing tool is an error."""
    cpu0 = children_cpu()
    t0 = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        said = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{cmd[0]} exited with {proc.returncode}: {said}")
    return seconds, children_cpu() - cpu0


def run_mm(home: Path, log: Path) -> tuple[float, dict[str, Any]]:
    """The archive job in a fresh process; its own report plus the parent's CPU view."""
    cpu0 = children_cpu()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-archive", str(home)]
    with log.open("wb") as err:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, cwd=ROOT, check=False)
    if proc.returncode != 0:
        said = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"mm's archive run exited with {proc.returncode}: {said}")
    result: dict[str, Any] = json.loads(proc.stdout)
    result["process_cpu_s"] = round(children_cpu() - cpu0, 2)
    return float(result["seconds"]), result


def child_archive(home: Path) -> int:
    """In the child: run the archive job once on the active connector and report."""
    rss: list[float] = []
    page = os.sysconf("SC_PAGE_SIZE")

    def current_rss() -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * page / MiB

    from mm_engine.engine import Engine

    with Engine(home) as engine:
        rss_before = current_rss()

        def progress(done: int, total: int) -> None:
            rss.append(current_rss())

        cpu0 = time.process_time()
        t0 = time.perf_counter()
        report = engine.archiver.run_once(progress)
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        # why a recording was not archived: its FILE_ERROR alarm says
        problems = [
            str(a["message"]) for a in engine.alarms.list(limit=20) if a["type"] == "FILE_ERROR"
        ]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    tenth = rss[max(0, len(rss) // 10 - 1)] if rss else rss_before
    doc = {
        "seconds": seconds,
        "cpu_s": cpu,
        "status": report.status,
        "archived": report.archived,
        "failed": len(report.failed),
        "pending": report.pending,
        "error": report.error,
        "file_errors": problems,
        "rss_before_run_mb": round(rss_before, 1),
        "rss_after_first_copy_mb": round(rss[0], 1) if rss else None,
        "rss_at_10pct_mb": round(tenth, 1),
        "rss_max_after_10pct_mb": round(max(rss[len(rss) // 10 :], default=tenth), 1),
        "rss_at_end_mb": round(rss[-1], 1) if rss else None,
        "peak_rss_mb": round(peak, 1),
    }
    print(json.dumps(doc))
    return 0


# -- checking what arrived --------------------------------------------------------------------


def sample_paths(lib: Library) -> list[str]:
    paths = sorted(lib.files)
    step = max(1, len(paths) // SAMPLE)
    return paths[::step][:SAMPLE]


def check_folder(lib: Library, folder: Path) -> tuple[int, int, bool]:
    """(files with the right size at the right path, files hashed, all hashed match)."""
    arrived = 0
    for rel in lib.files:
        path = folder / rel
        if path.is_file() and path.stat().st_size == lib.size:
            arrived += 1
    sample = sample_paths(lib)
    ok = all(
        (folder / rel).is_file()
        and hashlib.sha256((folder / rel).read_bytes()).hexdigest() == lib.files[rel]
        for rel in sample
    )
    return arrived, len(sample), ok


def list_bucket(client: Any, bucket: str, prefix: str) -> dict[str, int]:
    found: dict[str, int] = {}
    # ListObjects v1: s3rver 3.7 fails ListObjectsV2 past its first page of 1,000 keys
    for page in client.get_paginator("list_objects").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            found[item["Key"][len(prefix) :]] = int(item["Size"])
    return found


def check_bucket(lib: Library, client: Any, bucket: str, prefix: str) -> tuple[int, int, bool]:
    found = list_bucket(client, bucket, prefix)
    arrived = sum(1 for rel in lib.files if found.get(rel) == lib.size)
    sample = sample_paths(lib)
    ok = True
    for rel in sample:
        body = client.get_object(Bucket=bucket, Key=prefix + rel)["Body"].read()
        ok = ok and hashlib.sha256(body).hexdigest() == lib.files[rel]
    return arrived, len(sample), ok


# -- the targets ------------------------------------------------------------------------------


def tool_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE" and k != "RCLONE_CONFIG"}
    return {**env, **extra}


def add_connector(lib: Library, name: str, kind: str, settings: dict[str, str]) -> None:
    from mm_engine.engine import Engine

    with Engine(lib.home) as engine:
        engine.connectors.add(name, kind, settings)
        engine.connectors.activate(name)


def mm_copy(
    lib: Library,
    target: str,
    rnd: int,
    work: Path,
    server_pid: int,
    check: Callable[[], tuple[int, int, bool]],
) -> Copy:
    os.sync()  # every copy starts with the page cache clean
    workers = server_children(server_pid)
    cpu0 = server_cpu(server_pid)
    seconds, result = run_mm(lib.home, work / f"mm-{target}-{rnd}.log")
    server = server_cpu(server_pid, settle_from=workers) - cpu0
    if result["status"] != "done" or result["archived"] != len(lib.files):
        raise RuntimeError(f"mm's archive run to {target} did not finish: {result}")
    arrived, hashed, ok = check()
    return Copy(
        "mm",
        target,
        rnd,
        seconds,
        result["cpu_s"],
        server,
        arrived,
        len(lib.files),
        lib.total_bytes,
        hashed,
        ok,
        {k: v for k, v in result.items() if k not in ("seconds", "cpu_s")},
    )


def tool_copy(
    tool: str,
    lib: Library,
    target: str,
    rnd: int,
    cmd: list[str],
    env: dict[str, str],
    work: Path,
    server_pid: int,
    check: Callable[[], tuple[int, int, bool]],
    hide: str = "",
) -> Copy:
    os.sync()
    workers = server_children(server_pid)
    cpu0 = server_cpu(server_pid)
    seconds, cpu = timed_tool(cmd, env, work / f"{tool}-{target}-{rnd}.log")
    server = server_cpu(server_pid, settle_from=workers) - cpu0
    arrived, hashed, ok = check()
    shown = " ".join(cmd).replace(f"%{hide}", "%***") if hide else " ".join(cmd)
    return Copy(
        tool,
        target,
        rnd,
        seconds,
        cpu,
        server,
        arrived,
        len(lib.files),
        lib.total_bytes,
        hashed,
        ok,
        {"command": shown},
    )


def bench_smb(lib: Library, rounds: int, work: Path, tools: set[str]) -> Iterator[Copy]:
    from bench.bench_servers import samba

    with samba() as server:
        pid = server.proc.pid
        share = server.share

        def on_disk(dest: str) -> Callable[[], tuple[int, int, bool]]:
            return lambda: check_folder(lib, server.folder / dest)

        obscured = subprocess.run(
            [RCLONE, "obscure", server.password], capture_output=True, text=True, check=True
        ).stdout.strip()
        rclone_conf = work / "rclone.conf"
        rclone_conf.write_text("")
        rclone_env = tool_env(
            {
                "RCLONE_CONFIG": str(rclone_conf),
                "RCLONE_CONFIG_NAS_TYPE": "smb",
                "RCLONE_CONFIG_NAS_HOST": "127.0.0.1",
                "RCLONE_CONFIG_NAS_PORT": str(server.port),
                "RCLONE_CONFIG_NAS_USER": server.user,
                "RCLONE_CONFIG_NAS_PASS": obscured,
            }
        )

        def copy_by(tool: str, rnd: int) -> Copy:
            dest = f"{tool}-{rnd}"
            if tool == "mm":
                add_connector(
                    lib,
                    f"bench smb {rnd}",
                    "smb",
                    {
                        "path": f"127.0.0.1/{share}/{dest}/{FOLDER}",
                        "username": server.user,
                        "password": server.password,
                        "port": str(server.port),
                    },
                )
                return mm_copy(lib, "smb", rnd, work, pid, on_disk(f"{dest}/{FOLDER}"))
            if tool == "smbclient":
                script = f"prompt OFF; recurse ON; lcd {lib.source}; mkdir {dest}; cd {dest}; "
                script += f"mkdir {FOLDER}; cd {FOLDER}; mput *"
                login = f"{server.user}%{server.password}"
                cmd = [SMB_CLIENT, f"//127.0.0.1/{share}", "-p", str(server.port), "-U", login]
                return tool_copy(
                    "smbclient", lib, "smb", rnd, [*cmd, "-c", script], tool_env({}), work, pid,
                    on_disk(f"{dest}/{FOLDER}"), hide=server.password,
                )  # fmt: skip
            cmd = [RCLONE, "copy", "-q", str(lib.source), f"nas:{share}/{dest}/{FOLDER}"]
            return tool_copy(
                "rclone", lib, "smb", rnd, cmd, rclone_env, work, pid, on_disk(f"{dest}/{FOLDER}")
            )

        for rnd in range(1, rounds + 1):
            for tool in in_turn(["mm", "smbclient", "rclone"], tools, rnd):
                yield copy_by(tool, rnd)
                shutil.rmtree(server.folder / f"{tool}-{rnd}")


def in_turn(order: list[str], chosen: set[str], rnd: int) -> list[str]:
    """The chosen tools, each round starting one further along, so that over as many rounds
    as tools every tool goes first once. Order matters on this VM: the first copy of a round can
    meet memory the machine has not touched for a while, and writing such pages costs its
    hypervisor several times more (dd of 6 GB here: 15 s of system time against 3.7 s just
    after); that would be the server's cost, charged to whichever tool went first."""
    tools = [t for t in order if t in chosen]
    if not tools:
        return []
    shift = (rnd - 1) % len(tools)
    return tools[shift:] + tools[:shift]


def bench_s3(lib: Library, rounds: int, work: Path, kind: str, tools: set[str]) -> Iterator[Copy]:
    """A fresh server for every copy: nothing left over from the last one (moto keeps every
    object it holds, and its spilled files go only when it stops)."""
    from bench.bench_servers import s3

    target = f"s3-{kind}"
    rclone_conf = work / "rclone.conf"
    rclone_conf.write_text("")
    prefix = f"{FOLDER}/"
    for rnd in range(1, rounds + 1):
        for tool in in_turn(["mm", "rclone"], tools, rnd):
            with s3(kind) as running:
                server, bucket = running.server, running.bucket
                client = server.client()

                def in_bucket() -> tuple[int, int, bool]:
                    return check_bucket(lib, client, bucket, prefix)  # noqa: B023

                if tool == "mm":
                    settings = server.settings(bucket, folder=FOLDER)
                    add_connector(lib, f"bench {target} {rnd}", "s3", settings)
                    yield mm_copy(lib, target, rnd, work, running.pid, in_bucket)
                    continue
                env = tool_env(
                    {
                        "RCLONE_CONFIG": str(rclone_conf),
                        "RCLONE_CONFIG_S3_TYPE": "s3",
                        "RCLONE_CONFIG_S3_PROVIDER": "Other",
                        "RCLONE_CONFIG_S3_ENDPOINT": server.endpoint,
                        "RCLONE_CONFIG_S3_ACCESS_KEY_ID": server.key,
                        "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": server.secret,
                        "RCLONE_CONFIG_S3_FORCE_PATH_STYLE": "true",
                    }
                )
                cmd = [RCLONE, "copy", "-q", str(lib.source), f"s3:{bucket}/{FOLDER}"]
                yield tool_copy("rclone", lib, target, rnd, cmd, env, work, running.pid, in_bucket)


# -- the report -------------------------------------------------------------------------------


def best(copies: list[Copy], tool: str, target: str) -> Copy | None:
    mine = [c for c in copies if c.tool == tool and c.target == target]
    return min(mine, key=lambda c: c.seconds) if mine else None


def summarize(copies: list[Copy]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    figures: dict[str, Any] = {}
    names = {"smb": "Samba", "s3-moto": "S3, moto", "s3-s3rver": "S3, s3rver"}
    for target in names:
        mm = best(copies, "mm", target)
        if mm is None:
            continue
        tools = [c for c in (best(copies, t, target) for t in ("smbclient", "rclone")) if c]
        faster = min(tools, key=lambda c: c.seconds) if tools else None
        ratio = faster.seconds / mm.seconds if faster else None
        figures[target] = {
            "mm": mm.figures(),
            **{c.tool: c.figures() for c in tools},
            "faster_tool": faster.tool if faster else None,
            "ratio_mm_to_faster": round(ratio, 3) if ratio is not None else None,
        }
        where = names[target]
        rows.append(
            {
                "figure": f"archive throughput mm / {faster.tool if faster else '?'} ({where})",
                "value": round(ratio, 3) if ratio is not None else None,
                "unit": "×",
                "target": f"≥ {TARGET_RATIO}",
                "met": ratio >= TARGET_RATIO if ratio is not None else None,
            }
        )
        for c in [mm, *tools]:
            label = "mm archive job" if c.tool == "mm" else c.tool
            rows.append(
                {
                    "figure": f"{label} to {where}",
                    "value": round(c.bytes / MB / c.seconds, 1),
                    "unit": f"MB/s ({c.files_expected / c.seconds:.1f} files/s, {c.seconds:.1f} s)",
                    "target": "",
                    "met": None,
                }
            )
        growth = mm.detail["rss_max_after_10pct_mb"] - mm.detail["rss_at_10pct_mb"]
        rows.append(
            {
                "figure": f"mm peak RSS, archiving to {where}",
                "value": mm.detail["peak_rss_mb"],
                "unit": "MB",
                "target": f"≤ {PEAK_RSS_LIMIT_MB:g}",
                "met": mm.detail["peak_rss_mb"] <= PEAK_RSS_LIMIT_MB,
            }
        )
        rows.append(
            {
                "figure": f"mm RSS growth from 10 % of the run to its end ({where})",
                "value": round(growth, 1),
                "unit": "MB",
                "target": f"≤ {RSS_GROWTH_LIMIT_MB:g}",
                "met": growth <= RSS_GROWTH_LIMIT_MB,
            }
        )
    return rows, figures


def tools_version() -> dict[str, str]:
    out = {}
    for name, cmd in (("smbclient", [SMB_CLIENT, "--version"]), ("rclone", [RCLONE, "version"])):
        try:
            text = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
            out[name] = text.splitlines()[0].strip() if text else "unknown"
        except OSError:
            out[name] = "missing"
    out["smbd"] = subprocess.run(
        ["smbd", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smoke size: 50 × 1 MB, one round")
    parser.add_argument("--files", type=int, help=f"recordings (default {FULL[0]:,})")
    parser.add_argument("--size", type=float, help=f"MB per recording (default {FULL[1] // MB})")
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds per tool, fastest counts (default: as many as tools on the target, so "
        "each goes first once: 3 on Samba, 2 on S3)",
    )
    parser.add_argument(
        "--targets",
        help="comma-separated, of smb, s3-moto, s3-s3rver "
        "(default all three; --quick: smb, s3-moto)",
    )
    parser.add_argument(
        "--tools",
        default="mm,smbclient,rclone",
        help="comma-separated, of mm, smbclient, rclone (default all: the comparison)",
    )
    parser.add_argument("--out", type=Path, help="write the JSON result here (default stdout)")
    parser.add_argument("--child-archive", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_archive:
        return child_archive(args.child_archive)

    count, size = QUICK if args.quick else FULL
    count = args.files or count
    size = int(args.size * MB) if args.size else size
    rounds = args.rounds or (1 if args.quick else 0)  # 0: one per tool on each target
    chosen = args.targets or ("smb,s3-moto" if args.quick else "smb,s3-moto,s3-s3rver")
    targets = [t.strip() for t in chosen.split(",") if t.strip()]
    unknown = set(targets) - {"smb", "s3-moto", "s3-s3rver"}
    if unknown:
        parser.error(f"unknown target(s): {', '.join(sorted(unknown))}")
    tools = {t.strip() for t in args.tools.split(",") if t.strip()}
    if tools - {"mm", "smbclient", "rclone"}:
        parser.error(f"unknown tool(s): {', '.join(sorted(tools - {'mm', 'smbclient', 'rclone'}))}")
    missing = [tool for tool in (SMB_CLIENT, RCLONE) if not Path(tool).exists()]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: apt-get install smbclient rclone")

    log = sys.stdout if args.out else sys.stderr
    with tempfile.TemporaryDirectory(prefix="mm-archive-bench-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        lib = build_library(work, count, size)
        print(
            f"{count:,} recordings × {size / MB:g} MB catalogued in "
            f"{time.perf_counter() - t0:.1f} s",
            file=log,
            flush=True,
        )
        copies: list[Copy] = []
        runs: list[Iterator[Copy]] = []
        if "smb" in targets:
            smb_tools = tools & {"mm", "smbclient", "rclone"}
            runs.append(bench_smb(lib, rounds or len(smb_tools), work, tools))
        for kind in ("moto", "s3rver"):
            if f"s3-{kind}" in targets:
                s3_tools = tools & {"mm", "rclone"}
                runs.append(bench_s3(lib, rounds or len(s3_tools), work, kind, tools))
        for run in runs:
            for copy in run:
                copies.append(copy)
                f = copy.figures()
                print(
                    f"{copy.target:<9} {copy.tool:<9} round {copy.round}: {f['seconds']:8.2f} s "
                    f"{f['mb_per_s']:7.1f} MB/s {f['files_per_s']:7.1f} files/s  "
                    f"cpu {f['cpu_s']:6.1f} s  server cpu {f['server_cpu_s']:6.1f} s  "
                    f"arrived {copy.files_arrived}/{copy.files_expected}"
                    + ("" if copy.complete else "  INCOMPLETE"),
                    file=log,
                    flush=True,
                )
    incomplete = [c for c in copies if not c.complete]
    summary, figures = summarize(copies)
    if incomplete:
        summary.append(
            {
                "figure": "copies that arrived incomplete",
                "value": len(incomplete),
                "unit": ", ".join(f"{c.tool}→{c.target}" for c in incomplete),
                "target": "0",
                "met": False,
            }
        )
    doc = {
        "name": "archive_throughput",
        "date": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
        "files": count,
        "file_bytes": size,
        "total_mb": round(count * size / MB, 1),
        "rounds": rounds or "one per tool",
        "targets": targets,
        "tools": tools_version(),
        "copies": [c.figures() for c in copies],
        "per_target": figures,
        "all_arrived": not incomplete and bool(copies),
        "summary": summary,
    }
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 1 if incomplete else 0


if __name__ == "__main__":
    raise SystemExit(main())
