"""Mutation check of the verdict rule: each mutant must fail a default (non-slow) test.

    flock /tmp/bias-sweep-heavy.lock python tools/verdict_mutants.py [--only NAME ...]

Each mutant is one realistic mistake in the statistics or the words of the answer, written as a
text replacement in one module. The tool copies the package and the tests to a temporary
folder, applies one mutant there, runs the default tests of the report's statistics (stopping
at the first failure) with that copy first on the path, and prints which test caught it. A
mutant that no test catches is a hole in the tests: the tool exits 1 and names it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = "bias_sweep/report"
TESTS = [
    "tests/test_stats.py",
    "tests/test_gate.py",
    "tests/test_slopes.py",
    "tests/test_report_table.py",
    "tests/test_report.py",
    "tests/test_scrub_stats.py",
]
# name: (module, old text, new text); the old text must occur exactly once.
MUTANTS: dict[str, tuple[str, str, str]] = {
    "no Holm in the verdict (raw p-values)": (
        "statistics/verdict.py",
        'value = row.get(f"{name}_holm", np.nan)',
        "value = np.nan",
    ),
    "no Holm in the engine (adjusted = raw)": (
        "statistics/effects.py",
        "together = holm(np.concatenate([p[c][family] for c in factors]))",
        "together = np.concatenate([p[c][family] for c in factors])",
    ),
    "alpha = 0.10": ("statistics/verdict.py", "ALPHA = 0.05", "ALPHA = 0.10"),
    "no F-tests (claims by the CI alone)": (
        "statistics/verdict.py",
        "rate_quiet = not (is_number(p_rate) and p_rate < alpha)",
        "rate_quiet = False",
    ),
    "no F-test of the intervention": (
        "statistics/verdict.py",
        "int_quiet = not (is_number(p_int) and p_int < alpha)",
        "int_quiet = False",
    ),
    "larger point estimate when the CI of the difference straddles 0": (
        "statistics/verdict.py",
        "    if not rate_quiet and lo > 0:\n        return treatment\n    if not int_quiet and hi < 0:",
        "    if not rate_quiet and row[difference] > 0:\n        return treatment\n"
        "    if not int_quiet and row[difference] < 0:",
    ),
    "no CI condition": (
        "statistics/verdict.py",
        "    if not rate_quiet and lo > 0:\n        return treatment\n    if not int_quiet and hi < 0:",
        "    if not rate_quiet:\n        return treatment\n    if not int_quiet:",
    ),
    "CI side flipped": (
        "statistics/verdict.py",
        "if not int_quiet and hi < 0:",
        "if not int_quiet and hi > 0:",
    ),
    "p < alpha flipped": (
        "statistics/verdict.py",
        "rate_quiet = not (is_number(p_rate) and p_rate < alpha)",
        "rate_quiet = not (is_number(p_rate) and p_rate > alpha)",
    ),
    "rejects at p <= alpha": (
        "statistics/verdict.py",
        "rate_quiet = not (is_number(p_rate) and p_rate < alpha)",
        "rate_quiet = not (is_number(p_rate) and p_rate <= alpha)",
    ),
    "no between-model bound (unreplicated: rate against its own share)": (
        "statistics/verdict.py",
        'between = row.get("p_between_models", np.nan)\n        if not rate_quiet and lo > 0:',
        'between = row.get("p_between_models", np.nan)\n'
        '        if not rate_quiet and row[f"share_{treatment}_ci_low"] > 0:',
    ),
    "unreplicated design treated as replicated": (
        "statistics/verdict.py",
        'if not row.get("intervention_identifiable", False):\n        between',
        "if False:\n        between",
    ),
    "interaction read without Holm": (
        "statistics/verdict.py",
        'p = p_value(row, "p_interaction")',
        'p = row.get("p_interaction")',
    ),
    "no F-tests in the engine (every test rejects)": (
        "statistics/effects.py",
        "return float(sps.f.sf(ss / df1 / err, df1, df2))",
        "return 0.0",
    ),
    "rate's CI side flipped": (
        "statistics/verdict.py",
        "    if not rate_quiet and lo > 0:\n        return treatment\n    if not int_quiet",
        "    if not rate_quiet and lo < 0:\n        return treatment\n    if not int_quiet",
    ),
    "share difference reversed in the engine (intervention - rate)": (
        "statistics/splitplot.py",
        "out[difference_name(t)] = (v[t] - v_int) / total",
        "out[difference_name(t)] = (v_int - v[t]) / total",
    ),
    "gate at 90%": ("statistics/gate.py", "GATE_LEVEL = 0.999", "GATE_LEVEL = 0.90"),
    "gate at 95%": ("statistics/gate.py", "GATE_LEVEL = 0.999", "GATE_LEVEL = 0.95"),
    "gate at 99%": ("statistics/gate.py", "GATE_LEVEL = 0.999", "GATE_LEVEL = 0.99"),
    "gate reads the 95% CI": (
        "statistics/gate.py",
        'half = sps.t.ppf((1 + GATE_LEVEL) / 2, out["df"]) * out["se"]',
        'half = (out["ci_high"] - out["ci_low"]) / 2',
    ),
    "gate ignored": (
        "statistics/verdict.py",
        'out["verdict"] = np.where(void, "void", np.asarray(words, dtype=object))',
        'out["verdict"] = np.asarray(words, dtype=object)',
    ),
    "gate by the point estimate": (
        "statistics/gate.py",
        'moved = has_interval & ((out["gate_ci_low"] > 0) | (out["gate_ci_high"] < 0))',
        'moved = has_interval & (out["estimate"] != 0)',
    ),
    "a check without an interval passes": (
        "statistics/gate.py",
        "VOIDING = (NOT_MOVED, CANNOT_TELL)",
        "VOIDING = (NOT_MOVED,)",
    ),
    "slope sentence never said": (
        "text/headline.py",
        "    if interaction_matters(row):\n        parts.append(slope_sentence",
        "    if False:\n        parts.append(slope_sentence",
    ),
    "slope sentence always said": (
        "text/headline.py",
        "    if interaction_matters(row):\n        parts.append(slope_sentence",
        "    if True:\n        parts.append(slope_sentence",
    ),
    "slope change against the wrong base (strength 1)": (
        "statistics/slopes.py",
        "change.params[1] * s_max, change.params[0], cov",
        "change.params[1] * s_max, change.params[0] + change.params[1] * s_max, cov",
    ),
    "survival without the same-side condition": (
        "statistics/gate.py",
        "same = excludes & (np.sign(lo) == side)",
        "same = excludes",
    ),
}


def run_mutant(copy: Path, module: str, old: str, new: str) -> str | None:
    """The first default test that fails with this mutant, or None if all pass."""
    path = copy / REPORT / module
    original = path.read_text()
    if original.count(old) != 1:
        raise SystemExit(f"{module}: the mutant's text occurs {original.count(old)} times")
    path.write_text(original.replace(old, new))
    try:
        env = {**os.environ, "PYTHONPATH": str(copy)}
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *TESTS]
        done = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True)
        failed = re.search(r"^FAILED (.+?)(?: - .*)?$", done.stdout, re.MULTILINE)
        if done.returncode == 0:
            return None
        return failed.group(1) if failed else f"exit {done.returncode}: {done.stdout[-300:]}"
    finally:
        path.write_text(original)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="names (substrings) of the mutants to run")
    args = parser.parse_args()
    chosen = {k: v for k, v in MUTANTS.items() if not args.only or any(o in k for o in args.only)}
    with tempfile.TemporaryDirectory(prefix="verdict-mutants-") as tmp:
        copy = Path(tmp)
        shutil.copytree(ROOT / "bias_sweep", copy / "bias_sweep")
        shutil.copytree(ROOT / "tests", copy / "tests")
        shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
        where = subprocess.run(
            [sys.executable, "-c", "import bias_sweep; print(bias_sweep.__file__)"],
            cwd=copy, env={**os.environ, "PYTHONPATH": str(copy)}, capture_output=True, text=True,
        )  # fmt: skip
        if not where.stdout.startswith(str(copy)):
            raise SystemExit(f"the copy is not the package imported: {where.stdout.strip()}")
        missed = []
        for name, (module, old, new) in chosen.items():
            caught = run_mutant(copy, module, old, new)
            print(
                f"{name}: {'NOT CAUGHT' if caught is None else 'caught by ' + caught}", flush=True
            )
            if caught is None:
                missed.append(name)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
