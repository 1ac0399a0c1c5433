"""Route one turn to the capability that should answer it."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from types import ModuleType

from handlers import elsewhere, eligibility, faq, handoff, privacy, seminars, smalltalk
from handlers.base import Outcome, Turn
from handlers.replies import Choice, Reply
from knowledge.text import surface_key, word_keys

# A multi-turn flow left idle this long is ended; the user is told when they come back.
FLOW_TIMEOUT = timedelta(minutes=30)

# Asked first of a new message, each with wants(turn) and respond(turn): a question about another
# municipality's programs is not to be answered with Iwaki's, nor to start a flow.
OUT_OF_AREA: list[ModuleType] = [elsewhere]
# Multi-turn flows, each a module with NAME, wants(turn), start(turn), step(turn) -> Outcome | None
# (None: the message is not an answer to the pending question) and cancel(turn) -> Outcome.
FLOWS: list[ModuleType] = [privacy, handoff, eligibility]
# Single-turn capabilities, asked in order, each with wants(turn) and respond(turn); faq answers the rest.
CAPABILITIES: list[ModuleType] = [smalltalk, seminars]
# Capabilities that take the turn before anything else when they return an Outcome, each with
# intercept(turn) -> Outcome | None: while the secretariat answers a user, their messages go to a person.
INTERCEPTS: list[ModuleType] = [handoff]
# Flows that collect personal details: in a group chat the bot asks to continue them 1:1 instead.
PERSONAL_FLOWS = {"eligibility", "handoff"}


def respond(turn: Turn) -> Outcome:
    """Decide the outcome of one turn."""
    turn = _menu_postback_as_text(_resolve_typed_choice(turn))
    notice: tuple[Reply, ...] = ()
    conversation = turn.conversation
    if conversation.flow and conversation.updated_at and turn.now - conversation.updated_at > FLOW_TIMEOUT:
        notice = (Reply(turn.kb.messages.flow_timed_out),)
        turn = replace(turn, conversation=replace(conversation, flow=None, flow_data={}))
    outcome = _route(turn)
    if turn.is_group and outcome.flow in PERSONAL_FLOWS:
        outcome = Outcome("one_to_one", (Reply(turn.kb.messages.group_only_mentions),))
    return outcome.with_prefix(*notice) if notice else outcome


def _route(turn: Turn) -> Outcome:
    for capability in INTERCEPTS:
        taken = capability.intercept(turn)
        if taken is not None:
            return taken
    flow = _flow(turn.conversation.flow)
    if _is_cancel(turn):
        if flow is not None:
            return flow.cancel(turn)
        return Outcome("cancel", (Reply(turn.kb.messages.nothing_to_cancel, choices=smalltalk.menu_choices(turn.kb.messages)),))
    if flow is not None:
        stepped = flow.step(turn)
        if stepped is not None:
            return stepped
        # Not an answer to the pending question: answer it, keep the flow and offer to resume.
        answered = _route_fresh(turn)
        if answered.flow is not None:  # the user started another flow; the old one is dropped
            return answered
        resume = Reply(turn.kb.messages.resume_prompt,
                       choices=(Choice(turn.kb.messages.resume_label, f"{flow.NAME}:resume"),
                                Choice(turn.kb.messages.cancel_words[0], "cancel")))
        return replace(answered, replies=answered.replies + (resume,), flow=flow.NAME,
                       flow_data=turn.flow_data)
    return _route_fresh(turn)


def _route_fresh(turn: Turn) -> Outcome:
    for check in OUT_OF_AREA:
        if check.wants(turn):
            return check.respond(turn)
    for flow in FLOWS:
        if flow.wants(turn):
            return flow.start(turn)
    for capability in CAPABILITIES:
        if capability.wants(turn):
            return capability.respond(turn)
    return faq.respond(turn)


def _flow(name: str | None) -> ModuleType | None:
    return next((f for f in FLOWS if f.NAME == name), None)


def _is_cancel(turn: Turn) -> bool:
    if turn.postback == "cancel":
        return True
    key = surface_key(turn.text)
    return bool(key) and key in word_keys(turn.kb.messages.cancel_words)


def _resolve_typed_choice(turn: Turn) -> Turn:
    """Treat a typed label of a choice offered last turn (or of the menu) like a tap."""
    if turn.postback:
        return turn
    key = surface_key(turn.text)
    offered = dict(turn.memory.get("choices") or [])
    for (label, payload), label_key in zip(offered.items(), word_keys(offered)):
        if label_key == key:
            return replace(turn, postback=payload) if payload != label else turn
    menu = turn.kb.messages.menu
    for item, label_key in zip(menu, word_keys(item.label for item in menu)):
        if label_key == key:
            return replace(turn, text=item.text)
    return turn


def _menu_postback_as_text(turn: Turn) -> Turn:
    """Take a tapped menu choice as the text it stands for (its data is that text, e.g. 担当者と話したい)."""
    if turn.postback and any(item.text == turn.postback for item in turn.kb.messages.menu):
        return replace(turn, text=turn.postback, postback=None)
    return turn


def remember_choices(outcome: Outcome, memory: dict) -> dict:
    """Store the choices offered this turn, so typing a label next turn works like tapping it."""
    choices: list[list[str]] = []
    for reply in outcome.replies:
        for choice in reply.choices:
            choices.append([choice.label, choice.payload])
    memory = dict(memory)
    memory["choices"] = choices
    return memory
