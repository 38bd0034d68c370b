"""The repository's shape: module sizes, the import graph of `bot/`, documents that stand on their own.

These hold the layering that docs/architecture.md describes, so the description cannot drift from
the code without a test going red.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "cogs", "sandbox", "bench", "tests")
MAX_MODULE_LINES = 400
# Built from pieces, so this file does not trip its own check.
FORBIDDEN = ("../" + "shared", "SP" + "EC", "providers.md " + "section")
# A `docs/...` path as written in prose or a link; not the tail of a URL such as `.../developers/docs/x`.
DOCS_PATH = re.compile(r"(?<![\w/.-])docs/[\w./-]*[\w/]")
SKIPPED_DIRS = {".git", ".venv", ".lock-venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__"}
SKIPPED_DIRS |= {"data", "demo-out", "results", "build", "dist"}


def modules(*packages: str) -> Iterator[Path]:
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def repository_files() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT).parts
        if path.is_file() and not SKIPPED_DIRS.intersection(relative) and ".egg-info" not in str(path):
            yield path


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(path: Path) -> set[str]:
    """Every module `path` imports when it runs (lazy imports in functions too), resolved to full
    names; imports that only type checkers see (`if TYPE_CHECKING:`) are left out."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.orelse:
                visit(statement)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            # `from pkg import sub` needs the submodule `pkg.sub` when there is one, else `pkg` itself
            # (a submodule's own package is already importing, so `from . import sibling` is no edge).
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.add(submodule if is_module(submodule) else target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def bot_import_graph() -> dict[str, set[str]]:
    known = {module_name(path): path for path in modules("bot")}
    return {
        name: {target for target in runtime_imports(path) if target in known and target != name}
        for name, path in known.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of module names, or None."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def walk(node: str) -> list[str] | None:
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target in on_stack:
                return [*stack[stack.index(target) :], target]
            if target not in done and (cycle := walk(target)):
                return cycle
        stack.pop()
        on_stack.discard(node)
        done.add(node)
        return None

    for node in sorted(graph):
        if node not in done and (cycle := walk(node)):
            return cycle
    return None


def test_every_module_stays_under_the_size_limit() -> None:
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in modules(*PACKAGES)
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}, f"split these by job (at most {MAX_MODULE_LINES} lines each): {too_long}"


def test_nothing_under_bot_imports_the_cogs() -> None:
    # The cogs are loaded by name as discord.py extensions; the core never depends on them.
    offenders = {
        module_name(path): sorted(
            target for target in runtime_imports(path) if target.split(".")[0] == "cogs"
        )
        for path in modules("bot")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_import_graph_of_bot_has_no_cycles() -> None:
    graph = bot_import_graph()
    assert "bot.tasks.engine" in graph and "bot.store.base" in graph["bot.tasks.engine"]  # the parser works
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def floors(graph: dict[str, set[str]]) -> list[str]:
    """The longest chain of imports (a package's own modules not counted twice): how many floors the
    house has. A newcomer reads it from the top down, so it should stay short."""
    memo: dict[str, list[str]] = {}

    def longest(node: str) -> list[str]:
        if node not in memo:
            below = [t for t in graph[node] if not node.startswith(t + ".")]
            memo[node] = [node, *max((longest(t) for t in below), key=len, default=[])]
        return memo[node]

    return max((longest(node) for node in graph), key=len)


def test_the_house_has_at_most_ten_floors() -> None:
    chain = floors(bot_import_graph())
    assert len(chain) <= 10, " -> ".join(chain)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_every_docs_path_mentioned_in_the_code_and_readme_exists() -> None:
    sources = [*modules("bot", "cogs", "sandbox"), ROOT / "README.md"]
    mentioned = {
        (str(path.relative_to(ROOT)), linked.rstrip("."))
        for path in sources
        for linked in DOCS_PATH.findall(path.read_text())
    }
    assert any(linked == "docs/providers.md" for _, linked in mentioned)  # the pattern finds them
    missing = sorted((where, linked) for where, linked in mentioned if not (ROOT / linked).exists())
    assert missing == [], f"mentioned but not in the repository: {missing}"


def test_no_file_points_outside_the_repository() -> None:
    offenders = []
    for path in repository_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue  # binary files (images, the lock's hashes are text and are read)
        offenders += [f"{path.relative_to(ROOT)}: {word!r}" for word in FORBIDDEN if word in text]
    assert offenders == []
