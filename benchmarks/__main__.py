"""`python -m benchmarks [ingest|e2e|daily|horizon|backfill|all] [--records N ...] [--seed 7] [--days 28] [--repeat 1]`

Each benchmark is a module with `run(**kwargs) -> result` that prints its own Markdown tables (the
machine line, scale, seed and command first) and raises when its result differs from the sandbox
truth. Modules are imported only when chosen; `all` runs those that exist and says which are missing.
Options this dispatcher does not know (`--peer dlt`, `--flag`) are passed on as keyword arguments to
the benchmarks whose `run` accepts them. Exit codes: 0 ok, 1 a benchmark failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import time
from collections.abc import Sequence

BENCHMARKS = {
    "ingest": "benchmarks.ingest",  # P1/P2: ingest throughput against dlt
    "e2e": "benchmarks.e2e",  # end to end at 100k / 1M / 10M records, per-stage time and memory
    "daily": "benchmarks.daily",  # P4: the daily refresh
    "horizon": "benchmarks.horizon",  # requests the engagement horizon adds to a daily run
    "backfill": "benchmarks.backfill",  # a 90-day backfill at real API latency: ours, dlt, the latency limit
}


def parse(argv: Sequence[str] | None) -> tuple[argparse.Namespace, dict[str, object]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", nargs="?", default="all", choices=[*BENCHMARKS, "all"])
    parser.add_argument("--records", type=int, nargs="+", help="raw records per run, all streams (e2e: one run per value)")
    parser.add_argument("--seed", type=int, help="sandbox world seed (default 7)")
    parser.add_argument("--scale", type=float, help="daily: sandbox scale of the 90-day world (default 10)")
    parser.add_argument("--days", type=int, help="days of history in the sandbox world (default 28)")
    parser.add_argument("--repeat", type=int, help="runs per scale (the tables show min / median)")
    parser.add_argument("--keep", action="store_true", default=None, help="keep each run's warehouse, snapshot and logs")
    args, rest = parser.parse_known_args(argv)
    extra: dict[str, object] = {}
    i = 0
    while i < len(rest):
        if not rest[i].startswith("--"):
            parser.error(f"unexpected argument {rest[i]!r}")
        key = rest[i][2:].replace("-", "_")
        if "=" in key:
            key, value = key.split("=", 1)
            extra[key] = value
        elif i + 1 < len(rest) and not rest[i + 1].startswith("--"):
            extra[key] = rest[i + 1]
            i += 1
        else:
            extra[key] = True
        i += 1
    return args, extra


def accepted(fn, kwargs: dict[str, object]) -> dict[str, object]:
    """The keyword arguments `fn` takes (all of them if it has **kwargs)."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return kwargs
    names = {p.name for p in params}
    return {k: v for k, v in kwargs.items() if k in names}


def load(name: str):
    """The benchmark module, or None when it is not written yet (a missing dependency is an error)."""
    module = BENCHMARKS[name]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = parse(argv)
    kwargs = {k: v for k, v in vars(args).items() if k != "benchmark" and v is not None} | extra
    names = list(BENCHMARKS) if args.benchmark == "all" else [args.benchmark]
    failed = []
    for name in names:
        module = load(name)
        if module is None:
            message = f"benchmarks: {BENCHMARKS[name]} does not exist yet"
            if args.benchmark != "all":
                print(message, file=sys.stderr)
                return 2
            print(message + ": skipped\n")
            continue
        began = time.monotonic()
        try:
            module.run(**accepted(module.run, kwargs))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one line per failed benchmark; the others still run
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            print(f"benchmarks: {name} FAILED: {type(exc).__name__}: {first}", file=sys.stderr)
            rest = str(exc).strip().splitlines()[1:]
            if rest:
                print("\n".join(rest), file=sys.stderr)
            failed.append(name)
        else:
            print(f"\n({name} took {time.monotonic() - began:.0f} s)\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
