"""Flow validation: every kind of mistake is reported with its file, step, field and line, and
all of them at once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pydantic
import pytest

from dialogues.spec import (
    Flow,
    FlowError,
    FlowInvalid,
    check_path,
    load_flow_file,
    load_flows_dir,
    parse_flow,
    validate_flow,
)
from tests.dialogues.helpers import INTAKE, MESSAGES

BASE = """\
name: demo
start: hello
categories:
  delivery: {zh: 物流, en: Delivery}
steps:
  hello:
    kind: menu
    text: {zh: 你好, en: Hello}
    options:
      - key: 1
        label: {zh: 投诉, en: Complain}
        set: {topic: complaint}
        goto: describe
  describe:
    kind: ask
    slot: description
    text: {zh: 请描述, en: Describe}
    next: sort
  sort:
    kind: classify
    source: description
    text: {zh: 类型, en: Type}
    next: check
  check:
    kind: confirm
    text: {zh: "确认 {description} {category}", en: "Confirm {description} {category}"}
    edit:
      - {slot: description, step: describe, label: {zh: 描述, en: Description}}
    next: file
  file:
    kind: create_ticket
    ticket_kind: complaint
    text: {zh: "工单 {ticket_number}", en: "Ticket {ticket_number}"}
    next: bye
  bye:
    kind: end
"""


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[occurrence - 1]


def errors_of(text: str) -> list[FlowError]:
    return validate_flow(text, source="demo.yaml")


def only(text: str) -> FlowError:
    found = errors_of(text)
    assert len(found) == 1, found
    return found[0]


def test_the_base_flow_is_valid() -> None:
    assert errors_of(BASE) == []


def test_the_shipped_intake_flow_is_valid() -> None:
    assert validate_flow(INTAKE.read_text(encoding="utf-8"), source=str(INTAKE)) == []


# (what to replace in BASE, with what, step, field, the line's needle, a phrase of the message)
CASES = [
    ("    next: sort\n", "    next: sortt\n", "describe", "next", "next: sortt", "unknown step 'sortt'"),
    ("goto: describe", "goto: nowhere", "hello", "options[0].goto", "goto: nowhere",
     "unknown step 'nowhere'"),
    ("step: describe,", "step: gone,", "check", "edit[0].step", "step: gone", "unknown step 'gone'"),
    ("start: hello", "start: hi", None, "start", "start: hi", "unknown step 'hi'"),
    ("{zh: 请描述, en: Describe}", "{zh: 请描述}", "describe", "text.en", "{zh: 请描述}",
     "missing English (en) text"),
    ("label: {zh: 投诉, en: Complain}", "label: {en: Complain}", "hello", "options[0].label.zh",
     "label: {en: Complain}", "missing Chinese (zh) text"),
    ("{zh: 请描述, en: Describe}", "{zh: '  ', en: Describe}", "describe", "text.zh", "en: Describe",
     "text is empty"),
    ("{zh: 请描述, en: Describe}", "请描述", "describe", "text", "text: 请描述", "both languages"),
    ("    slot: description\n", "    slot: description\n    validator: postcode\n", "describe", "validator",
     "validator: postcode", "unknown validator 'postcode'"),
    ("key: 1", "key: 0", "hello", "options[0].key", "key: 0", "clashes with a reserved key"),
    ("key: 1", "key: '#'", "hello", "options[0].key", "key: '#'", "clashes with a reserved key"),
    ("key: 1", "key: '*'", "hello", "options[0].key", "key: '*'", "clashes with a reserved key"),
    ("key: 1", "key: a", "hello", "options[0].key", "key: a", "must be a number"),
    ("    kind: ask\n", "    kind: quiz\n", "describe", "", "  describe:", "unknown step kind 'quiz'"),
    ("    kind: ask\n", "", "describe", "", "  describe:", "missing 'kind'"),
    ("    slot: description\n", "    slot: description\n    colour: red\n", "describe", "colour",
     "colour: red", "unknown field 'colour'"),
    ('"确认 {description} {category}"', '"确认 {descripton} {category}"', "check", "text.zh",
     "确认 {descripton}", "unknown slot 'descripton'"),
    ('"确认 {description} {category}"', '"确认 {ticket_number} {category}"', "check", "text.zh",
     "确认 {ticket_number}", "only filled in the create_ticket step"),
    ("  delivery: {zh: 物流, en: Delivery}\n", "", "sort", "kind", "kind: classify",
     "needs the flow's categories"),
    ("{slot: description, step: describe,", "{slot: topic, step: describe,", "check", "edit[0].slot",
     "{slot: topic", "does not set slot 'topic'"),
    ("{slot: description, step: describe,", "{slot: ticket_number, step: file,", "check", "edit[0].step",
     "{slot: ticket_number", "does not ask the customer anything"),
    ("    ticket_kind: complaint\n", "    ticket_kind: praise\n", "file", "ticket_kind",
     "ticket_kind: praise", "'complaint'"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "step", "field", "needle", "phrase"), CASES)
def test_each_mistake_is_reported_where_it_was_written(
    old: str, new: str, step: str | None, field: str, needle: str, phrase: str
) -> None:
    assert old in BASE
    text = BASE.replace(old, new, 1)
    error = only(text)
    assert (error.file, error.step, error.field) == ("demo.yaml", step, field)
    assert phrase in error.message
    assert error.line == line_of(text, needle)


def test_a_bad_slot_name() -> None:
    text = BASE.replace("    slot: description\n", "    slot: Description!\n")
    found = errors_of(text)
    assert (found[0].step, found[0].field, found[0].line) == (
        "describe",
        "slot",
        line_of(text, "Description!"),
    )
    assert "lowercase letters" in found[0].message
    assert {e.message for e in found[1:]} == {"unknown slot 'description' (no step sets it)"}


def test_a_broken_step_still_counts_as_pointed_to_and_an_orphan_is_found() -> None:
    text = BASE.replace("    kind: ask\n", "    kind: quiz\n") + "  orphan:\n    kind: end\n"
    assert [(e.step, e.message[:20]) for e in errors_of(text)] == [
        ("describe", "unknown step kind 'q"),
        ("orphan", "unreachable from the"),
    ]


def test_duplicate_menu_keys() -> None:
    text = BASE.replace(
        "        goto: describe\n",
        "        goto: describe\n"
        "      - key: 1\n        label: {zh: 再投诉, en: Again}\n        goto: describe\n",
    )
    error = only(text)
    assert (error.step, error.field) == ("hello", "options[1].key")
    assert error.message == "duplicate key '1' (also options[0])"
    assert error.line == line_of(text, "- key: 1", 2)


def test_a_step_written_twice() -> None:
    text = BASE + "  bye:\n    kind: end\n"
    error = only(text)
    assert (error.step, error.field) == ("bye", "")
    assert "written twice" in error.message
    assert error.line == line_of(text, "  bye:", 2)


def test_an_unreachable_step() -> None:
    text = BASE + "  orphan:\n    kind: end\n"
    error = only(text)
    assert (error.step, error.field) == ("orphan", "")
    assert error.message == "unreachable from the start step 'hello'"
    assert error.line == line_of(text, "orphan:")


def test_a_slot_used_before_it_is_set_on_some_path() -> None:
    text = BASE.replace(
        "        goto: describe\n",
        "        goto: describe\n      - key: 2\n        label: {zh: 直接确认, en: Straight on}\n"
        "        goto: check\n",
    )
    found = errors_of(text)
    assert [(e.step, e.field) for e in found] == [
        ("check", "text.zh"),
        ("check", "text.zh"),
        ("check", "text.en"),
        ("check", "text.en"),
    ]
    assert found[0].message == "slot 'category' may be used before it is set (path: hello → check)"
    assert found[1].message == "slot 'description' may be used before it is set (path: hello → check)"
    assert all(e.line == line_of(text, "确认 {description}") for e in found)


def test_a_condition_reading_a_slot_not_set_on_every_path() -> None:
    text = BASE.replace(
        "    next: sort\n",
        "    next: route\n  route:\n    kind: branch\n    cases:\n"
        "      - if: \"topic == 'complaint' and not late\"\n        goto: sort\n    default: sort\n",
    )
    error = only(text)
    assert (error.step, error.field) == ("route", "cases[0].if")
    assert error.message == "unknown slot 'late' (no step sets it)"
    assert error.line == line_of(text, "- if:")


def test_a_condition_that_does_not_parse() -> None:
    text = BASE.replace(
        "    next: sort\n",
        '    next: route\n  route:\n    kind: branch\n    cases:\n      - {if: "topic ==", goto: sort}\n'
        "    default: sort\n",
    )
    error = only(text)
    assert (error.step, error.field) == ("route", "cases[0].if")
    assert "expected a value" in error.message


def test_a_loop_that_never_asks_the_customer() -> None:
    text = BASE.replace(
        "    next: bye\n",
        "    next: one\n  one:\n    kind: say\n    text: {zh: 一, en: one}\n    next: two\n"
        "  two:\n    kind: say\n    text: {zh: 二, en: two}\n    next: one\n",
    ).replace("  bye:\n    kind: end\n", "")
    error = only(text)
    assert error.step == "one"
    assert error.message == "loop without a question to the customer: one → two → one"


def test_message_overrides_are_checked() -> None:
    text = BASE.replace(
        "steps:\n",
        "messages:\n  stale: {zh: 过期了, en: Old menu}\n"
        "  too_long: {zh: '太长 {limit} {name}', en: 'Long {limit}'}\n"
        "  greetings: {zh: 嗨, en: Hi}\nsteps:\n",
    )
    found = errors_of(text)
    assert [(e.step, e.field, e.line) for e in found] == [
        (None, "messages.too_long.zh", line_of(text, "too_long:")),
        (None, "messages.greetings", line_of(text, "greetings:")),
    ]
    assert found[0].message.startswith("placeholder '{name}' is not available here (available: limit)")
    assert found[1].message == "unknown message 'greetings'"
    fixed = text.replace("{name}", "").replace("  greetings: {zh: 嗨, en: Hi}\n", "")
    assert parse_flow(fixed, source="x", messages=MESSAGES)


def test_ask_choice_needs_choices() -> None:
    text = BASE.replace("    slot: description\n", "    slot: description\n    validator: choice\n")
    error = only(text)
    assert (error.step, error.field) == ("describe", "choices")


def test_menu_intents_are_checked() -> None:
    text = BASE.replace(
        "        goto: describe\n",
        "        goto: describe\n        intents: [complain_loudly]\n        text_goto: sort\n",
    )
    found = errors_of(text)
    assert [(e.field, e.message) for e in found] == [
        ("options[0].intents", "unknown intent 'complain_loudly'"),
        ("options[0].text_goto", "text_goto needs text_slot"),
    ]


def test_yaml_syntax_errors_have_a_line() -> None:
    text = BASE.replace("    next: sort\n", "    next: [sort\n")
    error = only(text)
    assert error.message.startswith("YAML syntax")
    assert error.line is not None and error.line >= line_of(text, "next: [sort")


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("", "must be a mapping"),
        ("- a\n- b\n", "must be a mapping"),
        ("name: x\nstart: a\n", "required field 'steps' is missing"),
        ("start: a\nsteps: {a: {kind: end}}\n", "required field 'name' is missing"),
        ("name: x\nstart: a\nsteps: {a: {kind: end}}\nextras: 1\n", "unknown section 'extras'"),
        ("name: X Y\nstart: a\nsteps: {a: {kind: end}}\n", "a flow name uses"),
    ],
)
def test_the_top_level_is_checked(text: str, phrase: str) -> None:
    assert any(phrase in e.message for e in errors_of(text))


def test_every_error_is_reported_at_once() -> None:
    text = (
        BASE.replace("    next: sort\n", "    next: sortt\n")
        .replace("key: 1", "key: 0")
        .replace("{zh: 请描述, en: Describe}", "{zh: 请描述}")
        .replace("    ticket_kind: complaint\n", "    ticket_kind: complaint\n    validator: nope\n")
    )
    found = errors_of(text)
    assert {(e.step, e.field) for e in found} == {
        ("describe", "text.en"),
        ("describe", "next"),  # reported although the step itself did not parse
        ("hello", "options[0].key"),
        ("file", "validator"),
    }
    with pytest.raises(FlowInvalid) as caught:
        parse_flow(text, source="demo.yaml", messages=MESSAGES)
    assert caught.value.errors == tuple(found)
    assert "4 error(s)" in str(caught.value)


def test_error_lines_read_like_compiler_output() -> None:
    error = FlowError("flows/intake.yaml", "greeting", "options[1].goto", "unknown step 'x'", 12)
    assert str(error) == "flows/intake.yaml:12: greeting.options[1].goto: unknown step 'x'"
    assert str(FlowError("f.yaml", None, "start", "bad", None)) == "f.yaml: start: bad"


# ------------------------------------------------------------------------ the Flow object
def test_a_flow_is_immutable_hashable_and_carries_its_source() -> None:
    flow = parse_flow(BASE, source="demo.yaml", messages=MESSAGES)
    again = parse_flow(BASE, source="demo.yaml", messages=MESSAGES)
    assert flow.name == "demo"
    assert flow.text == BASE
    assert flow.source == "demo.yaml"
    assert hash(flow) == hash(again)
    assert flow == again
    assert {flow: 1}[again] == 1
    with pytest.raises(pydantic.ValidationError):
        flow.start = "bye"  # type: ignore[misc]
    assert isinstance(flow.steps, tuple)
    assert flow.step("describe").id == "describe"


def test_load_flows_dir_by_name_and_rejects_duplicates(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(BASE, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a flow", encoding="utf-8")
    flows = load_flows_dir(tmp_path, messages=MESSAGES)
    assert list(flows) == ["demo"]
    assert isinstance(flows["demo"], Flow)
    (tmp_path / "b.yml").write_text(BASE, encoding="utf-8")
    with pytest.raises(FlowInvalid) as caught:
        load_flows_dir(tmp_path, messages=MESSAGES)
    (error,) = caught.value.errors
    assert error.field == "name"
    assert "also used by" in error.message


def test_check_path_reports_every_file(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(BASE, encoding="utf-8")
    bad = BASE.replace("start: hello", "start: nope").replace("name: demo", "name: other")
    (tmp_path / "bad.yaml").write_text(bad, encoding="utf-8")
    (tmp_path / "twin.yml").write_text(BASE, encoding="utf-8")
    errors, files = check_path(tmp_path)
    assert files == 3
    assert [(Path(e.file).name, e.field, e.message[:12]) for e in errors] == [
        ("bad.yaml", "start", "unknown step"),
        ("twin.yml", "name", "flow name 'd"),
    ]
    errors, files = check_path(tmp_path / "good.yaml")
    assert (errors, files) == ([], 1)


def test_load_flow_file_raises_with_all_errors(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BASE.replace("start: hello", "start: nope"), encoding="utf-8")
    with pytest.raises(FlowInvalid) as caught:
        load_flow_file(path, messages=MESSAGES)
    assert [dataclasses.astuple(e)[1:3] for e in caught.value.errors] == [(None, "start")]


def test_yaml_anchors_can_share_labels_and_keep_lines() -> None:
    text = BASE.replace(
        "label: {zh: 投诉, en: Complain}", "label: &complain {zh: 投诉, en: Complain}"
    ).replace(
        "{slot: description, step: describe, label: {zh: 描述, en: Description}}",
        "{slot: description, step: describe, label: *complain}",
    )
    flow = parse_flow(text, source="demo.yaml", messages=MESSAGES)
    check = flow.step("check")
    assert check.kind == "confirm"
    assert check.edit[0].label.en == "Complain"
    broken = text.replace("    next: sort\n", "    next: sortt\n")
    assert [e.line for e in errors_of(broken)] == [line_of(broken, "next: sortt")]


def test_the_longest_step_id_still_fits_a_telegram_button() -> None:
    long_id = "a" * 40
    text = BASE.replace("describe", long_id)
    flow = parse_flow(text, source="demo.yaml", messages=MESSAGES)
    assert len(f"{long_id}.categories:99".encode()) <= 64
    assert flow.has_step(long_id)
    too_long = "a" * 41
    found = errors_of(BASE.replace("describe", too_long))
    assert [(e.step, e.field) for e in found] == [
        ("hello", "options[0].goto"),
        (too_long, "id"),
        ("check", "edit[0].step"),
    ]
    assert all(e.message.startswith("must be lowercase letters") for e in found)


TREE = BASE.replace(
    "  delivery: {zh: 物流, en: Delivery}\n",
    "  delivery:\n"
    "    zh: 物流\n"
    "    en: Delivery\n"
    "    sub:\n"
    "      late:\n"
    "        zh: 延误\n"
    "        en: Late\n"
    "        sub:\n"
    "          weather:\n"
    "            zh: 天气\n"
    "            en: Weather\n"
    "            sub:\n"
    "              storm: {zh: 暴雨, en: Storm}\n"
    "      lost: {zh: 丢件, en: Lost}\n",
)


def test_categories_nest_four_levels_under_sub() -> None:
    flow = parse_flow(TREE, source="demo.yaml", messages=MESSAGES)
    [delivery] = flow.categories
    assert [c.code for c in delivery.children] == ["late", "lost"]
    assert [c.code for c in delivery.walk()] == ["delivery", "late", "weather", "storm", "lost"]
    assert flow.category_label("storm", "en") == "Storm" and flow.category_label("late", "zh") == "延误"


def test_a_fifth_level_or_a_code_used_twice_is_refused_where_written() -> None:
    deeper = TREE.replace(
        "              storm: {zh: 暴雨, en: Storm}\n",
        "              storm:\n"
        "                zh: 暴雨\n"
        "                en: Storm\n"
        "                sub:\n"
        "                  flood: {zh: 洪水, en: Flood}\n",
    )
    assert "4 levels deep at most" in only(deeper).message
    # one code under two parents (a ticket stores a level's code alone):
    twice = TREE.replace("      lost: {zh: 丢件, en: Lost}\n", "      storm: {zh: 丢件, en: Lost}\n")
    error = only(twice)
    assert "storm is used twice" in error.message and error.line == line_of(twice, "storm: {zh: 丢件")
