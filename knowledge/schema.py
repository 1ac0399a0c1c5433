"""The shape of every knowledge file, checked with pydantic when the knowledge loads."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

# LINE limits quick-reply labels to 20 characters; checked here so an edit can't break LINE later.
LABEL_MAX = 20

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=LABEL_MAX)]
EntryId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")]
Phone = Annotated[str, StringConstraints(pattern=r"^0\d{1,4}-\d{1,4}-\d{3,4}$")]


class Strict(BaseModel):
    """A model that rejects unknown keys, so a misspelt key is reported, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Fact(Strict):
    """One fact users ask about directly (a cap, a rate, a phone, a count, a period)."""

    label: NonEmpty
    value: NonEmpty
    cues: list[NonEmpty] = Field(min_length=1)


class Entry(Strict):
    """One program or fact users ask about."""

    id: EntryId
    title: NonEmpty
    short_title: Label
    category: NonEmpty | None = None
    run_by: NonEmpty | None = None
    section: NonEmpty
    as_of: NonEmpty | None = None
    valid_until: date | None = None
    keywords: list[NonEmpty] = Field(min_length=1)
    questions: list[NonEmpty] = Field(min_length=3)
    answer: NonEmpty
    facts: list[Fact] = []
    contacts: list[EntryId] = []
    url: NonEmpty | None = None
    menu: Label | None = None  # a label of messages.yaml's menu offered with the answer (補助金診断)


class EntriesFile(Strict):
    """A file of entries; `as_of` is the year the facts are from, for every entry without its own."""

    as_of: NonEmpty
    entries: list[Entry] = Field(min_length=1)


class Contact(Strict):
    """A desk users can call."""

    id: EntryId
    name: NonEmpty
    phone: Phone | None = None
    note: NonEmpty | None = None
    url: NonEmpty | None = None


class ContactsFile(Strict):
    """The phone book every entry's `contacts` refers to."""

    contacts: list[Contact] = Field(min_length=1)


class SynonymsFile(Strict):
    """Words that mean the same to users; the first of each group is the one used for matching."""

    groups: list[list[NonEmpty]] = Field(min_length=1)
    noise: list[NonEmpty] = []  # phrases that carry no meaning for matching ("教えて", "について")

    @field_validator("groups")
    @classmethod
    def _groups_have_two_words(cls, groups: list[list[str]]) -> list[list[str]]:
        for group in groups:
            if len(group) < 2:
                raise ValueError(f"同義語のグループ {group} には2語以上を書いてください")
        return groups


class MenuItem(Strict):
    """One item of the main menu: the button label and the text it sends."""

    label: Label
    text: NonEmpty


class MessagesFile(Strict):
    """The bot's own wording: greetings, help, fallback, notes."""

    greeting: NonEmpty
    welcome_back: NonEmpty
    help: NonEmpty
    thanks: NonEmpty
    fallback: NonEmpty
    not_sure: NonEmpty
    unknown_thing: NonEmpty  # not_sure for a question of a thing no entry has a word for, "{thing}" replaced by it
    # Words of a contact: "X の連絡先" asks for X, and X no entry has a word for is an unknown thing too (法務局).
    contact_words: list[NonEmpty] = []
    hedge: NonEmpty  # "{title}" is replaced by the guessed entry's short title
    as_of_note: NonEmpty  # "{as_of}" is replaced
    outdated_note: NonEmpty  # "{valid_until}" is replaced
    contact_line: NonEmpty  # "{name}" and "{phone}" are replaced
    handoff_label: Label
    cancelled: NonEmpty
    nothing_to_cancel: NonEmpty
    flow_timed_out: NonEmpty
    resume_prompt: NonEmpty
    resume_label: Label
    apology: NonEmpty
    non_text: NonEmpty
    group_only_mentions: NonEmpty
    group_greeting: NonEmpty  # said when the bot is added to a LINE group or room
    # The text on the bar that opens the LINE rich menu (LINE allows 14 characters).
    menu_bar: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=14)]
    greeting_words: list[NonEmpty] = Field(min_length=1)
    thanks_words: list[NonEmpty] = Field(min_length=1)
    help_words: list[NonEmpty] = Field(min_length=1)
    cancel_words: list[NonEmpty] = Field(min_length=1)
    menu: list[MenuItem] = Field(min_length=1, max_length=13)
    # Deleting a user's own data ("データを削除"): the words that ask for it and the confirmation.
    forget_words: list[NonEmpty] = Field(min_length=1)
    forget_confirm: NonEmpty
    forget_yes_label: Label
    forget_no_label: Label
    forget_done: NonEmpty
    forget_kept: NonEmpty
    # The municipalities and prefectures whose programs the bot knows; a question about another
    # one ("仙台市の融資制度") is told so with `elsewhere`, "{place}" replaced by the place asked about.
    home_places: list[NonEmpty] = Field(min_length=1)
    # Other municipalities often asked about, found by their sound too: in a question typed in kana (ふくしましの融資).
    other_places: list[NonEmpty] = []
    elsewhere: NonEmpty
    # Programs of others (the state's 持続化給付金, …) the bot does not cover; a question naming one is
    # told so with `other_program`, "{program}" replaced by the name asked about.
    other_programs: list[NonEmpty] = []
    other_program: NonEmpty
    # A matter of one's own life (自宅, 保育園, 採用試験 …) asked without a word of business (経営, 会社, 店 …) is
    # not about a program for businesses: it is told so with `personal_matter`.
    personal_matters: list[NonEmpty] = []
    business_words: list[NonEmpty] = []
    personal_matter: NonEmpty

    @model_validator(mode="after")
    def _placeholders_present(self) -> "MessagesFile":
        for name, placeholder in (("as_of_note", "{as_of}"), ("outdated_note", "{valid_until}"),
                                  ("elsewhere", "{place}"), ("other_program", "{program}"),
                                  ("unknown_thing", "{thing}")):
            if placeholder not in getattr(self, name):
                raise ValueError(f"{name} には {placeholder} を含めてください")
        return self
