"""The GPU benchmark's script runs (tiny shapes on CPU), so it does not rot between GPU sessions."""

import json
import subprocess
import sys

from conftest import REPO


def test_gpu_benchmark_smoke_run(tmp_path):
    out = tmp_path / "gpu.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu_pretrain.py", "--smoke", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["smoke"] and report["flops_per_sample"] > 0
    assert set(report["variants"]) == {"plain", "realign_representation", "realign_parameters"}
    assert all(v["samples_per_s"] > 0 for v in report["variants"].values())
