"""The package's floors: a module imports only from its own floor or below, so shared code never
reaches up into a stage (downstream/ does not import train/, data/ does not import features/)."""

import ast
from pathlib import Path

import mmrobust

SRC = Path(mmrobust.__file__).parent

# Higher may import lower. models.presets is the table of model sizes that config.py validates
# against, downstream.methods the registry of fine-tuning methods config.py builds the study specs
# from: plain data, so they sit on the ground floor with config.
FLOORS = {
    0: (
        "errors",
        "fileio",
        "modalities",
        "safeload",
        "parallel",
        "distributed",
        "seeding",
        "schedule",
        "config",
        "models.presets",
        "downstream.methods",
        "keep",
        "losses",
        "harmonize",
        "objectives",
    ),
    1: ("data",),
    2: ("features",),
    3: ("models",),
    4: ("evaluate", "curriculum"),
    5: ("train", "downstream"),
    6: ("report", "estimate", "cli", "__main__"),
}


def floor(module: str) -> int:
    """The floor of a dotted module name below mmrobust (the longest matching prefix decides)."""
    best = None
    for level, names in FLOORS.items():
        for name in names:
            if (module == name or module.startswith(name + ".")) and (
                best is None or len(name) > len(best[1])
            ):
                best = (level, name)
    assert best is not None, f"{module}: no floor (add it to FLOORS)"
    return best[0]


def imports(path: Path) -> list[str]:
    """The mmrobust modules `path` imports, relative imports resolved."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("mmrobust."):
                target = node.module.removeprefix("mmrobust.")
            else:
                continue
            if node.module:
                found.append(target)
                continue
            for alias in node.names:  # `from . import checkpoint`: a module, or a name of the package
                name = f"{target}.{alias.name}".lstrip(".")
                if (SRC / name.replace(".", "/")).with_suffix(".py").exists() or (
                    SRC / name.replace(".", "/")
                ).is_dir():
                    found.append(name)
                elif target:
                    found.append(target)
    return found


def test_no_import_reaches_a_higher_floor():
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        module = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        for target in imports(path):
            if floor(target) > floor(module):
                upward.append(f"{module} (floor {floor(module)}) imports {target} (floor {floor(target)})")
    assert upward == []


def test_the_floor_check_sees_an_upward_import(tmp_path, monkeypatch):
    # The check itself, on a module written here: data/ importing features/ is one floor up.
    package = tmp_path / "data"
    package.mkdir()
    (package / "bad.py").write_text(
        "from ..features.clips import ClipSet\nfrom ..errors import MmrobustError\n"
    )
    monkeypatch.setattr(__import__(__name__), "SRC", tmp_path)
    assert imports(package / "bad.py") == ["features.clips", "errors"]
    assert floor("data.bad") == 1 and floor("features.clips") == 2
    assert floor("models.presets") == 0 and floor("models.config") == 3
    assert floor("downstream.methods") == 0 and floor("downstream.stages") == 5
