#!/usr/bin/env python3
"""herd vs llama.cpp, side by side on the same files, in one run: `herd bench` and
`llama-bench` with the same prompt/generation lengths, threads and repetitions, and the
table of ratios herd/llama.cpp (above 1: herd is faster).

    python3 scripts/bench/compare_llama_cpp.py MODEL.gguf [MODEL2.gguf ...] \
        [-p 512] [-n 128] [-d 0] [-t 1,2] [-r 3] [--llama-bench PATH] [--herd PATH] [--json OUT] [--roofline] \
        [--parallel 4,16]

llama-bench comes from scripts/bench/build_llama_cpp.sh (built from the llama.cpp in the
pinned llama-cpp-python sdist with native CPU flags). Each model runs herd and llama.cpp
alternately, herd first on even models and second on odd ones, so neither always gets
the cooler machine. Both tools time the same thing: random tokens from an empty cache,
one warm-up, prompt tests as one batch per chunk, generation one token per forward pass
with full logits. Each run's peak resident memory is printed too, and with --roofline
each generation speed as a share of the machine's measured read bandwidth.

With --parallel P, generation is also timed for P streams decoding together (a server's
decode step for P clients, one row each): `herd bench --parallel P` against llama.cpp's
`llama-batched-bench -npl P -pps` (the depth a prompt the streams share), both counting
every stream's tokens. llama-batched-bench times one run per setting (no repetitions).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_json(cmd, env=None):
    """The command's JSON output and its peak resident memory in MiB (from wait4, so it
    is this child's own maximum: mapped model pages it touched count, as they do for
    both tools)."""
    print("+", " ".join(map(str, cmd)), file=sys.stderr, flush=True)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            err.seek(0)
            sys.stderr.write(err.read().decode(errors="replace"))
            raise subprocess.CalledProcessError(p.returncode, cmd)
        out.seek(0)
        return json.loads(out.read()), usage.ru_maxrss / 1024


def key(r):
    return (r["n_prompt"], r["n_gen"], r.get("n_depth", 0), r["n_threads"])


def run_batched(cmd, env):
    """llama-batched-bench's JSONL rows (it prints -nan for the speed of an empty prompt)."""
    print("+", " ".join(map(str, cmd)), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    return [json.loads(line.replace("-nan", "null").replace("nan", "null"))
            for line in out.splitlines() if line.startswith("{") and '"speed_tg"' in line]


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("-p", default="512")
    ap.add_argument("-n", default="128")
    ap.add_argument("-d", default="0", help="tokens in the cache before each test (llama-bench's -d)")
    ap.add_argument("-t", default="1,2")
    ap.add_argument("-r", default="3")
    ap.add_argument("--llama-bench", default=None, help="default: build it with build_llama_cpp.sh")
    ap.add_argument("--herd", default=str(ROOT / "target" / "release" / "herd"))
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    ap.add_argument("--roofline", action="store_true",
                    help="measure the machine's read bandwidth (herd bench memory) and print each tg "
                         "result as a share of the roofline: weight bytes read per token x tokens/s / bandwidth")
    ap.add_argument("--parallel", default=None,
                    help="stream counts (e.g. 4,16) for a batched-decode comparison with llama-batched-bench")
    a = ap.parse_args()

    lb = a.llama_bench
    if lb is None:
        # The build script's progress (the sdist download, cmake) goes to stderr, which is
        # left on the terminal: a first run takes minutes and should say why.
        print("building llama-bench with scripts/bench/build_llama_cpp.sh "
              "(or pass --llama-bench PATH)", file=sys.stderr)
        bindir = subprocess.run(["bash", str(ROOT / "scripts/bench/build_llama_cpp.sh"), "llama-bench"],
                                check=True, stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
        lb = str(Path(bindir) / "llama-bench")
    env = dict(os.environ, LD_LIBRARY_PATH=str(Path(lb).parent) + ":" + os.environ.get("LD_LIBRARY_PATH", ""))
    if not Path(a.herd).exists():
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "herd"], cwd=ROOT, check=True)

    rows, peaks, kernels = [], [], "?"
    for i, m in enumerate(a.models):
        herd_cmd = [a.herd, "bench", m, "-p", a.p, "-n", a.n, "-d", a.d, "-t", a.t, "-r", a.r, "--json"]
        lb_cmd = [lb, "-m", m, "-p", a.p, "-n", a.n, "-d", a.d, "-t", a.t, "-r", a.r, "-o", "json"]
        if i % 2 == 0:
            (h, h_rss), (l, l_rss) = run_json(herd_cmd), run_json(lb_cmd, env)
        else:
            (l, l_rss), (h, h_rss) = run_json(lb_cmd, env), run_json(herd_cmd)
        peaks.append((Path(m).name, h_rss, l_rss))
        if h:
            # Which kernels ran decides a prompt's speed (AMX tiles or not, several times
            # over): the tables below say so.
            kernels = h[0].get("kernels", kernels)
        lmap = {key(r): r for r in l}
        for r in h:
            peer = lmap.get(key(r))
            if peer is None:
                continue
            test = f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}"
            if r.get("n_depth"):
                test += f" @ d{r['n_depth']}"
            rows.append({
                "model": Path(m).name, "type": r["model_type"], "threads": r["n_threads"], "test": test,
                "herd_ts": r["avg_ts"], "herd_sd": r["stddev_ts"],
                "llama_cpp_ts": peer["avg_ts"], "llama_cpp_sd": peer["stddev_ts"],
                "ratio": r["avg_ts"] / peer["avg_ts"],
                "decode_bytes": r.get("decode_bytes"),
            })

    if a.parallel:
        bb = Path(lb).parent / "llama-batched-bench"
        if not bb.exists():
            bindir = subprocess.run(["bash", str(ROOT / "scripts/bench/build_llama_cpp.sh"), "llama-batched-bench"],
                                    check=True, stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
            bb = Path(bindir) / "llama-batched-bench"
        benv = dict(env, LD_LIBRARY_PATH=str(bb.parent) + ":" + env["LD_LIBRARY_PATH"])
        most = max(int(x) for x in a.parallel.split(","))
        ctx = max(int(x) for x in a.d.split(",")) + most * max(int(x) for x in a.n.split(",")) + 64
        for i, m in enumerate(a.models):
            for t in a.t.split(","):
                herd_cmd = [a.herd, "bench", m, "-p", "0", "-n", a.n, "-d", a.d, "--parallel", a.parallel,
                            "-t", t, "-r", a.r, "--json"]
                bb_cmd = [str(bb), "-m", m, "-c", str(ctx), "-npp", a.d, "-ntg", a.n, "-npl", a.parallel, "-pps",
                          "-t", t, "--output-format", "jsonl"]
                if i % 2 == 0:
                    (h, _), l = run_json(herd_cmd), run_batched(bb_cmd, benv)
                else:
                    l, (h, _) = run_batched(bb_cmd, benv), run_json(herd_cmd)
                lmap = {(r["pp"], r["tg"], r["pl"]): r for r in l}
                for r in h:
                    peer = lmap.get((r["n_depth"], r["n_gen"], r["n_parallel"]))
                    if peer is None or r["n_parallel"] < 2:
                        continue
                    test = f"tg{r['n_gen']} x{r['n_parallel']}" + (f" @ d{r['n_depth']}" if r["n_depth"] else "")
                    rows.append({
                        "model": Path(m).name, "type": r["model_type"], "threads": r["n_threads"], "test": test,
                        "herd_ts": r["avg_ts"], "herd_sd": r["stddev_ts"],
                        "llama_cpp_ts": peer["speed_tg"], "llama_cpp_sd": 0.0,
                        "ratio": r["avg_ts"] / peer["speed_tg"], "decode_bytes": None,
                    })

    print(f"\nherd vs llama.cpp ({platform.machine()}, {cpu_name()}, {os.cpu_count()} cores)\n")
    print("| model | type | threads | test | herd t/s | llama.cpp t/s | herd / llama.cpp |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['model']} | {r['type']} | {r['threads']} | {r['test']} | {r['herd_ts']:.1f} ± {r['herd_sd']:.1f}"
              f" | {r['llama_cpp_ts']:.1f} ± {r['llama_cpp_sd']:.1f} | {r['ratio']:.2f} |")
    print(f"\nherd's kernels: {kernels}")
    print("\nPeak resident memory of each run (all its tests), MiB:\n")
    print("| model | herd | llama.cpp | herd / llama.cpp |")
    print("| --- | ---: | ---: | ---: |")
    for name, hr, lr in peaks:
        print(f"| {name} | {hr:.0f} | {lr:.0f} | {hr / lr:.2f} |")
    if a.roofline:
        threads = sorted({r["threads"] for r in rows})
        bw, _ = run_json([a.herd, "bench", "memory", "-t", ",".join(map(str, threads)), "--json"])
        gbps = {b["n_threads"]: b["read_gbps"] for b in bw}
        print("\nGeneration against the memory roofline (weight bytes per token x tokens/s / read bandwidth):\n")
        print("| model | threads | read GB/s | MiB per token | herd | llama.cpp |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for r in rows:
            # Weight bytes only: at a depth the KV cache is read too, so those rows are left out.
            if r["test"].startswith("tg") and "@" not in r["test"] and r["decode_bytes"]:
                g = gbps[r["threads"]] * 1e9
                r["roofline_herd"] = r["decode_bytes"] * r["herd_ts"] / g
                r["roofline_llama_cpp"] = r["decode_bytes"] * r["llama_cpp_ts"] / g
                print(f"| {r['model']} | {r['threads']} | {g / 1e9:.1f} | {r['decode_bytes'] / 2**20:.0f}"
                      f" | {r['roofline_herd']:.0%} | {r['roofline_llama_cpp']:.0%} |")
    if a.json:
        a.json.write_text(json.dumps({"rows": rows, "peak_rss_mib": peaks, "cpu": cpu_name(), "herd_kernels": kernels}, indent=1) + "\n")


if __name__ == "__main__":
    main()
