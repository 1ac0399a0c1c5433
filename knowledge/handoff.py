"""The shape of handoff.yaml: the handoff flow's wording, the consent text, the secretariat's office hours."""
from __future__ import annotations

from datetime import time
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from knowledge.loader import Problem, load_file
from knowledge.schema import Label, NonEmpty, Strict

FILE = "handoff.yaml"


class OfficeHours(Strict):
    """When the secretariat answers: weekdays between opens and closes, except holidays and closed days."""

    opens: time
    closes: time
    closed_days: list[NonEmpty] = []  # "MM-DD", e.g. the year-end closure

    @field_validator("closed_days")
    @classmethod
    def _month_day(cls, days: list[str]) -> list[str]:
        for day in days:
            month, _, dom = day.partition("-")
            if not (month.isdigit() and dom.isdigit() and 1 <= int(month) <= 12 and 1 <= int(dom) <= 31):
                raise ValueError(f"休みの日「{day}」は 月-日（例: 12-29）で書いてください")
        return days

    @model_validator(mode="after")
    def _opens_before_closes(self) -> "OfficeHours":
        if self.opens >= self.closes:
            raise ValueError("opens（開始）は closes（終了）より前の時刻にしてください")
        return self


class SummaryLabels(Strict):
    """Row labels of the summary shown before consent (and of the Slack card)."""

    name: NonEmpty
    business: NonEmpty
    contact: NonEmpty
    topic: NonEmpty
    preferred_time: NonEmpty
    eligibility: NonEmpty


class SlackWording(Strict):
    """What the secretariat reads in Slack."""

    card_title: NonEmpty  # "{id}"
    channel_names: dict[str, NonEmpty]
    received: NonEmpty
    via: NonEmpty
    recent_questions: NonEmpty
    status_open: NonEmpty
    status_claimed: NonEmpty  # "{who}"
    status_resolved: NonEmpty  # "{who}"
    claim_label: Label
    resolve_label: Label
    thread_hint: NonEmpty  # "{internal}"
    internal_prefix: NonEmpty
    from_user: NonEmpty
    user_released: NonEmpty
    reannounce: NonEmpty  # "{id}", "{received}"
    relay_failed: NonEmpty  # "{error}"


class HandoffFile(Strict):
    """handoff.yaml."""

    office_hours: OfficeHours
    start_words: list[NonEmpty] = Field(min_length=1)
    maybe_start_words: list[NonEmpty] = []
    intro: NonEmpty
    ask_name: NonEmpty
    ask_business: NonEmpty
    no_business_label: Label
    no_business_value: NonEmpty
    ask_contact: NonEmpty
    invalid_contact: NonEmpty
    ask_topic: NonEmpty
    ask_time: NonEmpty
    time_choices: list[Label] = Field(min_length=1, max_length=10)
    empty_answer: NonEmpty
    too_long: NonEmpty  # "{max}"
    summary: NonEmpty
    summary_labels: SummaryLabels
    consent: NonEmpty
    consent_label: Label
    decline_label: Label
    restart_label: Label
    consent_reprompt: NonEmpty
    declined: NonEmpty
    cancelled: NonEmpty
    done_live: NonEmpty  # "{when}"
    done_queued: NonEmpty  # "{when}"
    expect_today: NonEmpty  # "{closes}"
    expect_next_day: NonEmpty  # "{date}", "{weekday}", "{opens}"
    weekday_names: list[NonEmpty] = Field(min_length=7, max_length=7)
    queued_note: NonEmpty
    relay_ack: NonEmpty
    release_label: Label
    release_words: list[NonEmpty] = Field(min_length=1)
    released: NonEmpty
    from_secretariat: NonEmpty
    resolved_push: NonEmpty
    slack: SlackWording

    @model_validator(mode="after")
    def _placeholders_present(self) -> "HandoffFile":
        required = {
            "too_long": ["{max}"], "done_live": ["{when}"], "done_queued": ["{when}"],
            "expect_today": ["{closes}"], "expect_next_day": ["{date}", "{weekday}", "{opens}"],
        }
        for name, placeholders in required.items():
            for placeholder in placeholders:
                if placeholder not in getattr(self, name):
                    raise ValueError(f"{name} には {placeholder} を含めてください")
        for name, placeholders in {"card_title": ["{id}"], "status_claimed": ["{who}"], "status_resolved": ["{who}"],
                                   "reannounce": ["{id}"], "thread_hint": ["{internal}"]}.items():
            for placeholder in placeholders:
                if placeholder not in getattr(self.slack, name):
                    raise ValueError(f"slack.{name} には {placeholder} を含めてください")
        return self


def load_handoff(directory: Path, problems: list[Problem]) -> HandoffFile | None:
    """Load and validate handoff.yaml, collecting its problems."""
    value, _ = load_file(directory, FILE, HandoffFile, problems)
    return value
