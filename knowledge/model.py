"""The loaded knowledge: validated entries, contacts, wording and the search index."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from knowledge.handoff import load_handoff
from knowledge.index import Document, SearchIndex, Vocabulary
from knowledge.loader import BUNDLED_DIR, KnowledgeError, Problem, fingerprint, load_file
from knowledge.schema import Contact, ContactsFile, EntriesFile, Entry, MessagesFile, SynonymsFile
from knowledge.seminars import load_seminars
from knowledge.subsidy import load_subsidy

# Files with a schema of their own; every other *.yaml in the directory is a file of entries.
# A capability with its own data registers a loader here: name -> (directory, problems) -> value.
SectionLoader = Callable[[Path, list[Problem]], Any]
SECTIONS: dict[str, SectionLoader] = {}
SECTIONS["handoff.yaml"] = load_handoff
SECTIONS["seminars.yaml"] = load_seminars
SECTIONS["subsidy.yaml"] = load_subsidy
_CORE_FILES = {"messages.yaml", "contacts.yaml", "synonyms.yaml"}


@dataclass(frozen=True)
class AnswerableEntry:
    """An entry with the year its facts are from resolved (the file's `as_of` if it has none)."""

    entry: Entry
    as_of: str
    file: str

    @property
    def id(self) -> str:
        """Return the entry id."""
        return self.entry.id


@dataclass
class Knowledge:
    """Everything the bot knows, validated; read-only once loaded."""

    directory: Path
    version: str
    messages: MessagesFile
    contacts: dict[str, Contact]
    entries: dict[str, AnswerableEntry]
    synonyms: SynonymsFile
    index: SearchIndex
    sections: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> Any:
        """Return the data of a registered section file (e.g. "seminars.yaml")."""
        return self.sections[name]

    @classmethod
    def load(cls, directory: Path | str | None = None) -> "Knowledge":
        """Load and validate a knowledge directory; raise KnowledgeError listing every problem."""
        directory = Path(directory) if directory else BUNDLED_DIR
        problems: list[Problem] = []
        if not directory.is_dir():
            raise KnowledgeError([Problem(str(directory), None, "フォルダが見つかりません。")])
        messages, _ = load_file(directory, "messages.yaml", MessagesFile, problems)
        contacts_file, contacts_parsed = load_file(directory, "contacts.yaml", ContactsFile, problems)
        synonyms, _ = load_file(directory, "synonyms.yaml", SynonymsFile, problems)
        contacts = {c.id: c for c in contacts_file.contacts} if contacts_file else {}
        if contacts_file and contacts_parsed:
            _check_unique([c.id for c in contacts_file.contacts], "contacts.yaml", contacts_parsed.line_of, "contacts", problems)

        entries: dict[str, AnswerableEntry] = {}
        for path in sorted(directory.glob("*.yaml")):
            if path.name in _CORE_FILES or path.name in SECTIONS:
                continue
            file, parsed = load_file(directory, path.name, EntriesFile, problems)
            if file is None or parsed is None:
                continue
            for i, entry in enumerate(file.entries):
                if entry.id in entries:
                    problems.append(Problem(path.name, parsed.line_of("entries", i, "id"),
                                            f"id「{entry.id}」は {entries[entry.id].file} でも使われています。別の id にしてください。"))
                    continue
                for ref in entry.contacts:
                    if contacts and ref not in contacts:
                        problems.append(Problem(path.name, parsed.line_of("entries", i, "contacts"),
                                                f"連絡先「{ref}」が contacts.yaml にありません。contacts.yaml の id を書いてください。"))
                if messages and entry.menu and entry.menu not in {item.label for item in messages.menu}:
                    problems.append(Problem(path.name, parsed.line_of("entries", i, "menu"),
                                            f"メニュー「{entry.menu}」が messages.yaml の menu にありません。menu の label を書いてください。"))
                entries[entry.id] = AnswerableEntry(entry, entry.as_of or file.as_of, path.name)
        if not entries:
            problems.append(Problem(str(directory), None, "回答できる項目（entries）が1つもありません。"))

        sections = {name: loader(directory, problems) for name, loader in SECTIONS.items()}
        if problems or messages is None or synonyms is None:
            raise KnowledgeError(problems)
        vocabulary = Vocabulary.build(synonyms.groups, synonyms.noise)
        index = SearchIndex([_document(e.entry) for e in entries.values()], vocabulary)
        return cls(directory, fingerprint(directory), messages, contacts, entries, synonyms, index, sections)


def _document(entry: Entry) -> Document:
    keys = (entry.title, entry.short_title, *entry.keywords, *entry.questions)
    told = (*(c for f in entry.facts for c in f.cues), entry.answer)
    return Document(entry.id, tuple(dict.fromkeys(keys)), tuple(dict.fromkeys(told)))


def _check_unique(ids: list[str], file: str, line_of: Callable[..., int | None], key: str, problems: list[Problem]) -> None:
    seen: set[str] = set()
    for i, value in enumerate(ids):
        if value in seen:
            problems.append(Problem(file, line_of(key, i, "id"), f"id「{value}」が重複しています。"))
        seen.add(value)
