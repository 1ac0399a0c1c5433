"""Load the knowledge directory: parse YAML safely, validate it, report problems with file and line."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

BUNDLED_DIR = Path(__file__).resolve().parent

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a knowledge file, said so an admin can fix it."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class KnowledgeError(Exception):
    """The knowledge directory has problems; every one of them is listed."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


_MESSAGES_JA = {
    "missing": "必須の項目「{field}」がありません。追加してください。",
    "extra_forbidden": "知らない項目「{field}」があります。項目名の綴りを確認してください。",
    "string_too_short": "「{field}」が空です。内容を書いてください。",
    "string_too_long": "「{field}」が長すぎます（{max_length}文字まで）。短くしてください。",
    "too_short": "「{field}」の数が足りません（{min_length}個以上必要です）。",
    "too_long": "「{field}」が多すぎます（{max_length}個まで）。",
    "string_pattern_mismatch": "「{field}」の書き方が違います（形式: {pattern}）。",
    "string_type": "「{field}」は文字列で書いてください。",
    "list_type": "「{field}」はリスト（- で始まる行）で書いてください。",
    "date_from_datetime_parsing": "「{field}」は日付（例: 2018-03-31）で書いてください。",
    "date_parsing": "「{field}」は日付（例: 2018-03-31）で書いてください。",
    "date_type": "「{field}」は日付（例: 2018-03-31）で書いてください。",
    "model_type": "「{field}」の書き方が違います（項目: 値 の形で書いてください）。",
    "dict_type": "「{field}」の書き方が違います（項目: 値 の形で書いてください）。",
    "int_parsing": "「{field}」は数字で書いてください。",
    "int_type": "「{field}」は数字で書いてください。",
    "float_parsing": "「{field}」は数字で書いてください。",
    "bool_parsing": "「{field}」は true か false で書いてください。",
}


def _japanese(error: dict[str, Any]) -> str:
    """Turn one pydantic error into an instruction in Japanese."""
    loc = [str(p) for p in error["loc"] if not isinstance(p, int)]
    field = loc[-1] if loc else "（ファイル全体）"
    template = _MESSAGES_JA.get(error["type"])
    if template:
        ctx = {k: v for k, v in (error.get("ctx") or {}).items()}
        try:
            return template.format(field=field, **ctx)
        except (KeyError, IndexError):
            pass
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    return f"「{field}」: {message}"


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Follow a pydantic error location through the YAML node tree to a line number."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for key in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for k_node, v_node in node.value:
                if k_node.value == key:
                    child = v_node
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            child = node.value[key]
        if child is None:
            return line
        node = child
        line = node.start_mark.line + 1
    return line


@dataclass(frozen=True)
class Parsed:
    """One YAML file read from disk: its data and its node tree (for line numbers)."""

    name: str
    data: Any
    root: yaml.Node | None

    def line_of(self, *loc: Any) -> int | None:
        """Return the line of the value at a location like ("entries", 3, "id")."""
        return _line_of(self.root, loc)


# libyaml's safe loader when PyYAML was built with it (several times faster at start-up); the
# pure-Python one otherwise. Both are the safe loader: no tag can run code.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> tuple[Parsed | None, list[Problem]]:
    """Read one YAML file with the safe loader; a syntax error becomes a Problem."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [Problem(name, None, "文字コードが UTF-8 ではありません。UTF-8 で保存してください。")]
    try:
        root = yaml.compose(text, Loader=_SafeLoader)
        data = _SafeLoader(text).construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        # An unclosed quote or bracket is only noticed where the file ends; the place it was
        # opened (the context mark) is where the admin has to look.
        mark = exc.context_mark if exc.context_mark and "end of stream" in str(exc.problem) else exc.problem_mark
        mark = mark or exc.context_mark
        line = mark.line + 1 if mark else None
        return None, [
            Problem(
                name,
                line,
                f"YAMLの書き方に誤りがあります（{exc.context or ''} {exc.problem or exc}）。"
                "字下げ（スペース）や「:」の後の空白、引用符やカッコの閉じ忘れを確認してください。",
            )
        ]
    except yaml.YAMLError as exc:
        return None, [Problem(name, None, f"YAMLとして読めません: {exc}")]
    except ValueError as exc:  # PyYAML builds dates itself and raises on a day that does not exist
        return None, [Problem(name, _impossible_date_line(text),
                              f"存在しない日付があります（{exc}）。年・月・日を確認してください（例: 2018-02-28）。")]
    return Parsed(name, data, root), []


def _impossible_date_line(text: str) -> int | None:
    """Return the line of the first date-like value PyYAML cannot turn into a date."""
    nodes = [yaml.compose(text, Loader=yaml.SafeLoader)]
    while nodes:
        node = nodes.pop(0)
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:timestamp":
            try:
                yaml.SafeLoader(node.value).construct_yaml_timestamp(node)
            except ValueError:
                return node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            nodes.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            nodes.extend(v for pair in node.value for v in pair)
    return None


def validate(parsed: Parsed, model: type[M]) -> tuple[M | None, list[Problem]]:
    """Validate parsed YAML against a schema; every error becomes a Problem with its line."""
    if parsed.data is None:
        return None, [Problem(parsed.name, None, "ファイルが空です。")]
    try:
        return model.model_validate(parsed.data), []
    except ValidationError as exc:
        problems = [
            Problem(parsed.name, parsed.line_of(*err["loc"]), _japanese(err))  # type: ignore[arg-type]
            for err in exc.errors()
        ]
        return None, problems


def load_file(directory: Path, name: str, model: type[M], problems: list[Problem]) -> tuple[M | None, Parsed | None]:
    """Read and validate one named file of the knowledge directory, collecting problems."""
    path = directory / name
    if not path.exists():
        problems.append(Problem(name, None, f"ファイル {name} が見つかりません。"))
        return None, None
    parsed, found = read_yaml(path)
    problems.extend(found)
    if parsed is None:
        return None, None
    value, found = validate(parsed, model)
    problems.extend(found)
    return value, parsed


def fingerprint(directory: Path) -> str:
    """Return a hash of every YAML file's name and content: the knowledge version."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.yaml")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


Check = Callable[[Path, list[Problem]], None]
