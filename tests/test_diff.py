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
    commit(
        tmp_path,
        {
            "table1_x.csv": HEADER
            + "vatt,lp,28.30,21.30\nvatt,masd,35.00,21.30\nharmonized,lp,22.00,18.20\n",
            "table2_x.csv": "experiment,method,M_T=V\nvatt,lp,VA\n",
        },
        "b",
    )
    (tmp_path / "results/tables/table1_x.csv").write_text(HEADER)  # the work tree is not read
    result = run_cli("diff", "HEAD~1", "HEAD", "--repo", str(tmp_path), "--fail-on-change")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert any(
        "vatt/masd" in line
        and "overall_P" in line
        and "34.20" in line
        and "35.00" in line
        and "+0.80" in line
        for line in lines
    )
    assert any("harmonized/lp" in line and "added" in line for line in lines)
    assert any("table2_x" in line and "(whole table)" in line and "added" in line for line in lines)
    assert not any("vatt/lp" in line for line in lines)
    assert (
        run_cli("diff", "HEAD~1", "HEAD", "--repo", str(tmp_path)).returncode == 0
    )  # reports without gating
    same = run_cli("diff", "HEAD", "HEAD", "--repo", str(tmp_path), "--fail-on-change")
    assert same.returncode == 0 and "no change" in same.stdout
    bad = run_cli("diff", "v9", "--repo", str(tmp_path))
    assert bad.returncode == 2 and "v9: not a revision" in bad.stderr and "Traceback" not in bad.stderr


# Two commits with hand-written tables for the filters. What changes from A to B:
#   table1_x  vatt/lp overall_P 28.300 -> 28.311 (+0.011), overall_R 1.10 -> 1.11 (exactly 0.01; in floats
#             1.11 - 1.10 is 0.010000000000000009, so a float comparison would wrongly show it at --tol 0.01),
#             vatt/masd overall_P 34.20 -> 35.00, realign/lp overall_P 30.00 -> 31.00,
#             harmonized/lp added, curriculum/lp removed
#   fig4_x    realign/ft/1 P 40.00 -> 41.00, vatt/ft/2 added
#   fig5_x    unchanged
#   notes     no experiment column: lp P 10.00 -> 11.00
#   table2_x  added, realign rows only
A = {
    "table1_x.csv": HEADER
    + "vatt,lp,28.300,1.10\nvatt,masd,34.20,21.30\nrealign,lp,30.00,20.00\ncurriculum,lp,25.00,19.00\n",
    "fig4_x.csv": "experiment,method,k,P\nvatt,ft,1,35.74\nrealign,ft,1,40.00\n",
    "fig5_x.csv": "experiment,method,k,P,R\nvatt,ft,0,21.91,21.15\nrealign,ft,0,20.00,19.00\n",
    "notes.csv": "method,P\nlp,10.00\n",
}
B = {
    "table1_x.csv": HEADER
    + "vatt,lp,28.311,1.11\nvatt,masd,35.00,21.30\nrealign,lp,31.00,20.00\nharmonized,lp,22.00,18.20\n",
    "fig4_x.csv": "experiment,method,k,P\nvatt,ft,1,35.74\nrealign,ft,1,41.00\nvatt,ft,2,41.94\n",
    "fig5_x.csv": A["fig5_x.csv"],
    "notes.csv": "method,P\nlp,11.00\n",
    "table2_x.csv": "experiment,method,M_T=V\nrealign,lp,VA\n",
}


def two_commits(repo):
    git(repo, "init", "-q", "-b", "main")
    commit(repo, A, "a")
    for name in A.keys() - B.keys():
        (repo / "results/tables" / name).unlink()
    commit(repo, B, "b")


def diff_ab(repo, *flags):
    return run_cli("diff", "HEAD~1", "HEAD", "--repo", str(repo), *flags)


def shown_cells(stdout):
    """{(table, row, column)} of the changed-cells table."""
    cells = set()
    for line in stdout.splitlines():
        fields = [f.strip() for f in line.strip("|").split("|")]
        if (
            line.startswith("|")
            and len(fields) == 6
            and fields[0] not in ("table", "")
            and not fields[0].startswith("-")
        ):
            cells.add(tuple(fields[:3]))
    return cells


def shown_rows(stdout):
    """{(table, row, change)} of the added / removed rows and tables."""
    rows = set()
    for line in stdout.splitlines():
        fields = [f.strip() for f in line.strip("|").split("|")]
        if (
            line.startswith("|")
            and len(fields) == 3
            and fields[0] != "table"
            and not fields[0].startswith("-")
        ):
            rows.add(tuple(fields))
    return rows


def test_default_output_lists_everything_and_ends_with_the_summary(tmp_path):
    two_commits(tmp_path)
    result = diff_ab(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "result tables, HEAD~1 -> HEAD"
    assert shown_cells(result.stdout) == {
        ("table1_x", "vatt/lp", "overall_P"),
        ("table1_x", "vatt/lp", "overall_R"),
        ("table1_x", "vatt/masd", "overall_P"),
        ("table1_x", "realign/lp", "overall_P"),
        ("fig4_x", "realign/ft/1", "P"),
        ("notes", "lp", "P"),
    }
    assert shown_rows(result.stdout) == {
        ("table1_x", "harmonized/lp", "added"),
        ("table1_x", "curriculum/lp", "removed"),
        ("fig4_x", "vatt/ft/2", "added"),
        ("table2_x", "(whole table)", "added"),
    }
    assert result.stdout.splitlines()[-1] == (
        "summary: 6 cells changed, 2 rows added, 1 row removed, 1 table added, "
        "0 tables removed (in 4 of 5 tables compared); no tolerance"
    )


def test_table_filter_by_name_glob_and_repeated(tmp_path):
    two_commits(tmp_path)
    one = diff_ab(tmp_path, "--table", "table1_x")
    assert one.returncode == 0, one.stderr
    assert {c[0] for c in shown_cells(one.stdout)} == {"table1_x"} and len(shown_cells(one.stdout)) == 4
    assert shown_rows(one.stdout) == {
        ("table1_x", "harmonized/lp", "added"),
        ("table1_x", "curriculum/lp", "removed"),
    }
    assert one.stdout.splitlines()[-1] == (
        "summary: 4 cells changed, 1 row added, 1 row removed, 0 tables added, "
        "0 tables removed (in 1 of 1 table compared); no tolerance"
    )
    globbed = diff_ab(tmp_path, "--table", "fig*", "--table", "notes.csv")  # a glob, and a name with .csv
    assert shown_cells(globbed.stdout) == {("fig4_x", "realign/ft/1", "P"), ("notes", "lp", "P")}
    assert shown_rows(globbed.stdout) == {("fig4_x", "vatt/ft/2", "added")}
    assert globbed.stdout.splitlines()[-1].startswith(
        "summary: 2 cells changed, 1 row added, 0 rows removed, "
        "0 tables added, 0 tables removed (in 2 of 3 tables compared)"
    )
    same = diff_ab(tmp_path, "--table", "fig5_x")
    assert "no change" in same.stdout and "(in 0 of 1 table compared)" in same.stdout


def test_experiment_filter_keeps_tables_without_an_experiment_column(tmp_path):
    two_commits(tmp_path)
    vatt = diff_ab(tmp_path, "--experiment", "vatt")
    assert vatt.returncode == 0, vatt.stderr
    assert shown_cells(vatt.stdout) == {
        ("table1_x", "vatt/lp", "overall_P"),
        ("table1_x", "vatt/lp", "overall_R"),
        ("table1_x", "vatt/masd", "overall_P"),
        ("notes", "lp", "P"),
    }
    # table2_x (realign rows only) is not reported as added; the removed curriculum row is not shown
    assert shown_rows(vatt.stdout) == {("fig4_x", "vatt/ft/2", "added")}
    assert vatt.stdout.splitlines()[-1] == (
        "summary: 4 cells changed, 1 row added, 0 rows removed, 0 tables added, "
        "0 tables removed (in 3 of 4 tables compared); no tolerance"
    )
    two = diff_ab(tmp_path, "--experiment", "vatt", "--experiment", "harmonized", "--table", "table1_x")
    assert shown_rows(two.stdout) == {("table1_x", "harmonized/lp", "added")}
    assert len(shown_cells(two.stdout)) == 3
    realign = diff_ab(tmp_path, "--experiment", "realign")
    assert ("table2_x", "(whole table)", "added") in shown_rows(realign.stdout)


def test_tolerance_hides_a_change_exactly_at_it_and_shows_one_just_above(tmp_path):
    two_commits(tmp_path)
    result = diff_ab(tmp_path, "--table", "table1_x", "--tol", "0.01")
    assert result.returncode == 0, result.stderr
    cells = shown_cells(result.stdout)
    assert ("table1_x", "vatt/lp", "overall_R") not in cells  # 1.10 -> 1.11: |delta| = 0.01, not shown
    assert ("table1_x", "vatt/lp", "overall_P") in cells  # 28.300 -> 28.311: 0.011 > 0.01
    assert len(cells) == 3
    assert result.stdout.splitlines()[-1] == (
        "summary: 3 cells changed, 1 row added, 1 row removed, 0 tables added, "
        "0 tables removed (in 1 of 1 table compared); "
        "tolerance 0.01, 1 numeric change within it not shown"
    )
    wider = diff_ab(tmp_path, "--table", "table1_x", "--tol", "0.011")
    assert ("table1_x", "vatt/lp", "overall_P") not in shown_cells(wider.stdout)
    assert wider.stdout.splitlines()[-1].endswith("tolerance 0.011, 2 numeric changes within it not shown")


def test_fail_on_change_counts_only_what_the_filters_and_tolerance_leave(tmp_path):
    two_commits(tmp_path)
    assert diff_ab(tmp_path, "--fail-on-change").returncode == 1
    assert diff_ab(tmp_path, "--fail-on-change", "--table", "fig5_x").returncode == 0
    assert (
        diff_ab(tmp_path, "--fail-on-change", "--table", "notes", "--tol", "1").returncode == 0
    )  # 10 -> 11 at tol
    assert diff_ab(tmp_path, "--fail-on-change", "--table", "notes", "--tol", "0.99").returncode == 1
    # vatt's cells in table1_x move by at most 0.80; its only other change is elsewhere (fig4_x)
    quiet = diff_ab(
        tmp_path, "--fail-on-change", "--table", "table1_x", "--experiment", "vatt", "--tol", "0.8"
    )
    assert quiet.returncode == 0 and "no change" in quiet.stdout
    assert (
        diff_ab(
            tmp_path, "--fail-on-change", "--table", "table1_x", "--experiment", "vatt", "--tol", "0.79"
        ).returncode
        == 1
    )
    added = diff_ab(
        tmp_path, "--fail-on-change", "--table", "table1_x", "--experiment", "harmonized", "--tol", "100"
    )
    assert added.returncode == 1  # a row added is a change whatever the tolerance


def test_unknown_table_experiment_or_tolerance_is_one_line_naming_the_known_ones(tmp_path):
    two_commits(tmp_path)
    table = diff_ab(tmp_path, "--table", "table3_*")
    assert table.returncode == 2 and table.stdout == ""
    assert table.stderr.splitlines() == [
        "mmrobust: error: --table table3_*: matches no table at HEAD~1 or HEAD; "
        "known: fig4_x, fig5_x, notes, table1_x, table2_x"
    ]
    experiment = diff_ab(tmp_path, "--experiment", "vat")
    assert experiment.returncode == 2
    assert experiment.stderr.splitlines() == [
        "mmrobust: error: --experiment vat: no row of the selected tables has it "
        "at HEAD~1 or HEAD; known: curriculum, harmonized, realign, vatt"
    ]
    narrowed = diff_ab(
        tmp_path, "--table", "fig*", "--experiment", "harmonized"
    )  # harmonized is in table1_x only
    assert narrowed.returncode == 2 and narrowed.stderr.strip().endswith("known: realign, vatt")
    for bad in ("abc", "-0.1", "nan"):
        tol = diff_ab(tmp_path, "--tol", bad)
        assert tol.returncode == 2 and tol.stderr.splitlines() == [
            f"mmrobust: error: --tol {bad}: not a number >= 0"
        ]
