"""Cold imports, as on Lambda: each handler imported in a fresh interpreter (`python -I -S`, the function's
environment) whose path is only the function, the layer, and the layer's requirements plus boto3, against a bare
`import boto3` on the same path. Two layers: compiled, as layers/postsale/Makefile builds it for `sam build` (with
its bytecode: what Lambda runs), and without bytecode, as sam's own Python builder would ship it (/opt is read-only,
so every cold start would compile the layer; `-B`): the difference is what shipping the bytecode saves.

    python bench/imports.py [FUNCTION] [--without-bytecode]   # where FUNCTION's import time goes (-X importtime), as a tree
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from services import ROOT, function_path, lambda_environment, lambda_like_path, layer_source_copy

FUNCTIONS = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").exists())


def _run(function: str | None, layer_source: Path | None = None, *flags: str) -> subprocess.CompletedProcess:
    """One fresh interpreter importing `function`'s handler (None: boto3); prints wall and CPU seconds."""
    path = function_path(function, layer_source) if function else [str(lambda_like_path())]
    body = f"runpy.run_path({str(ROOT / 'functions' / function / 'app.py')!r})" if function else "import boto3"
    code = (
        f"import sys; sys.path[:0] = {path!r}; import runpy, time; t, c = time.perf_counter(), time.process_time(); "
        f"{body}; print(time.perf_counter() - t, time.process_time() - c)"
    )
    flags = (*flags, "-B") if layer_source else flags
    command = [sys.executable, "-I", "-S", *flags, "-c", code]
    cwd = ROOT / "functions" / function if function else ROOT
    return subprocess.run(
        command, capture_output=True, text=True, check=True, cwd=cwd, env=lambda_environment(function or "x", {})
    )


def _sample(function: str | None, layer_source: Path | None) -> tuple[float, float]:
    wall, cpu = _run(function, layer_source).stdout.split()[-2:]
    return float(wall), float(cpu)


def cold_imports(runs: int = 7) -> dict:
    """Rounds of fresh interpreters (boto3, then every function compiled and without bytecode): drift hits all alike."""
    with tempfile.TemporaryDirectory() as scratch:
        source = layer_source_copy(Path(scratch))
        variants = {"": None, "_without_bytecode": source}
        samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(runs):
            samples.setdefault(("boto3", ""), []).append(_sample(None, None))
            for function in FUNCTIONS:
                for suffix, layer in variants.items():
                    samples.setdefault((function, suffix), []).append(_sample(function, layer))
    boto3_ms = statistics.median(w for w, _ in samples["boto3", ""]) * 1000
    figures: dict = {"import_boto3_ms": round(boto3_ms, 1)}
    for suffix in variants:
        ratios = {f: [w * 1000 / boto3_ms for w, _ in samples[f, suffix]] for f in FUNCTIONS}
        for function in FUNCTIONS:
            figures[f"import{suffix}_{function}_ms"] = round(statistics.median(w for w, _ in samples[function, suffix]) * 1000, 1)
            figures[f"import{suffix}_{function}_cpu_ms"] = round(
                statistics.median(c for _, c in samples[function, suffix]) * 1000, 1
            )
        worst = max(FUNCTIONS, key=lambda f: statistics.median(ratios[f]))
        figures |= {
            f"import_over_boto3{suffix}": round(statistics.median(ratios[worst]), 2),
            f"import_over_boto3{suffix}_min": round(min(ratios[worst]), 2),
            f"import_over_boto3{suffix}_max": round(max(ratios[worst]), 2),
            f"import_over_boto3{suffix}_worst": worst,
        }
    return figures


def breakdown(function: str, without_bytecode: bool = False, min_ms: float = 4.0, depth: int = 3) -> list[str]:
    """`-X importtime` of one cold import, as a tree down to `depth`, of imports that took at least `min_ms`
    (children are printed before their parent, as Python prints them)."""
    with tempfile.TemporaryDirectory() as scratch:
        stderr = _run(function, layer_source_copy(Path(scratch)) if without_bytecode else None, "-X", "importtime").stderr
    lines = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        level = (len(name) - len(name.lstrip()) - 1) // 2
        if level < depth and int(cumulative) / 1000 >= min_ms:
            lines.append(f"{int(cumulative) / 1000:8.1f} ms  {'  ' * level}{name.strip()}")
    return lines


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    name, built = (args[0] if args else "documents"), "--without-bytecode" in sys.argv
    print(f"-X importtime of functions/{name}{' (layer without bytecode)' if built else ''}, cumulative:")
    print("\n".join(breakdown(name, built)))
