"""`mmrobust diff`: result tables of two git revisions, read from git, not the work tree."""
import subprocess

from conftest import run_cli

HEADER = "experiment,method,overall_P,overall_R\n"


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def commit(repo, files, message):
    for name, text in files.items():
        path = repo / "results" / "tables" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)


def test_changed_cells_added_rows_and_exit_codes(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    commit(tmp_path, {"table1_x.csv": HEADER + "vatt,lp,28.30,21.30\nvatt,masd,34.20,21.30\n"}, "a")
    commit(tmp_path, {"table1_x.csv": HEADER + "vatt,lp,28.30,21.30\nvatt,masd,35.00,21.30\nharmonized,lp,22.00,18.20\n",
                      "table2_x.csv": "experiment,method,M_T=V\nvatt,lp,VA\n"}, "b")
    (tmp_path / "results/tables/table1_x.csv").write_text(HEADER)  # the work tree is not read
    result = run_cli("diff", "HEAD~1", "HEAD", "--repo", str(tmp_path), "--fail-on-change")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert any("vatt/masd" in line and "overall_P" in line and "34.20" in line and "35.00" in line and "+0.80" in line for line in lines)
    assert any("harmonized/lp" in line and "added" in line for line in lines)
    assert any("table2_x" in line and "(whole table)" in line and "added" in line for line in lines)
    assert not any("vatt/lp" in line for line in lines)
    assert run_cli("diff", "HEAD~1", "HEAD", "--repo", str(tmp_path)).returncode == 0  # reports without gating
    same = run_cli("diff", "HEAD", "HEAD", "--repo", str(tmp_path), "--fail-on-change")
    assert same.returncode == 0 and "no change" in same.stdout
    bad = run_cli("diff", "v9", "--repo", str(tmp_path))
    assert bad.returncode == 2 and "v9: not a revision" in bad.stderr and "Traceback" not in bad.stderr
