"""Random and hostile input everywhere: never a 500, never a partial response (issue 7).

Hypothesis posts generated and known-nasty data to the student flow and to every
staff form, and puts random values into every route parameter and query string, as
nobody and as each role. The routes come from the app's URL map, so pages added
later are fuzzed too.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import csrf_token
from tests.web.crawl_helpers import build_world, fill, get_rules, post_rules, sign_in
from tests.web.take_helpers import PULSE_ANSWERS, Student, publish
from voice.extensions import limiter
from voice.models import Answer, Comment, Response, Role

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Statuses a hostile request may get: each comes with a page that says what to do
#: (308: Werkzeug sends a path with doubled slashes, e.g. a link "0%2F", to the same
#: path with the slashes merged).
CLEAR_ANSWERS = {
    200,
    204,
    302,
    303,
    308,
    400,
    401,
    403,
    404,
    405,
    409,
    410,
    413,
    422,
    429,
}

#: Strings that broke other systems: control and format characters, markup, SQL,
#: template syntax, huge and empty values, right-to-left overrides.
NASTY = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202eevil\u202c",
    "\u200b\u200c\u200d\ufeff",
    "\u2066x\u2069",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'; DROP TABLE response; --",
    "{{ config }}",
    "{% raw %}",
    "%00",
    "../../etc/passwd",
    "A" * 5000,
    "é" * 300,
    "👩🏽‍🎓" * 50,
    "ﷺ" * 40,
    "1e309",
    "-1",
    "99999999999999999999999",
    "NaN",
    "0x10",
    "\r\n\r\n",
    "\t",
)
hostile_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=200),
)
#: Every field the pulse's last page knows, plus control fields and made-up ones.
FIELD_NAMES = (
    "q-pulse_group_heard",
    "q-pulse_better_since_last",
    "q-pulse_open_next_step",
    "q-pulse_open_anything_else",
    "q-pulse_feel_safe",
    "q-",
    "q-q-",
    "lang",
    "action",
    "code",
)
field_names = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=12))
posted_fields = st.dictionaries(
    field_names, st.lists(hostile_text, min_size=1, max_size=3), max_size=8
)
#: Keys every stored response in these tests must have: pages 1 and 2 were valid.
ANSWERED_FIRST = {
    name.removeprefix("q-") for page in PULSE_ANSWERS[:2] for name in page
}


def assert_no_partial_response(db) -> None:
    """Every stored response holds all the answers its student had given."""
    keys_by_response: dict[object, set[str]] = {}
    for response_id, key in db.session.execute(
        sa.select(Answer.response_id, Answer.item_key)
    ):
        keys_by_response.setdefault(response_id, set()).add(key)
    for response_id in db.session.scalars(sa.select(Response.id)):
        assert ANSWERED_FIRST <= keys_by_response.get(response_id, set())


def count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def audience(db):
    return publish()


@FUZZ
@given(fields=posted_fields, action=st.sampled_from(["submit", "next", "back", "?"]))
def test_hostile_last_page_is_stored_whole_or_not_at_all(
    client, db, audience, fields, action
):
    with client.application.app_context():
        limiter.reset()
    student = Student(client, audience)
    student.start()
    for answers in PULSE_ANSWERS[:2]:
        student.page(answers)
    before = count(db, Response)
    data = {**student.form(action=action), **fields}
    response = student.post(data)
    assert response.status_code in CLEAR_ANSWERS
    assert "Traceback" not in student.html
    stored = count(db, Response) - before
    assert stored == (1 if response.status_code == 303 else 0)
    assert_no_partial_response(db)


@FUZZ
@given(fields=posted_fields)
def test_hostile_first_page_never_fails_and_stores_nothing(
    client, db, audience, fields
):
    with client.application.app_context():
        limiter.reset()
    student = Student(client, audience)
    student.start()
    response = student.post({**student.form(), **fields})
    assert response.status_code in CLEAR_ANSWERS
    assert count(db, Response) == 0


@FUZZ
@given(code=hostile_text, token=hostile_text)
def test_hostile_code_or_link_gets_a_clear_page(client, db, audience, code, token):
    with client.application.app_context():
        limiter.reset()
    student = Student(client, audience)
    student.open()
    link = quote(token, safe="") or "x"
    with client.application.app_context():
        start = client.post(
            f"/s/{link}/start",
            data={"csrf_token": csrf_token(student.html), "code": code},
        )
        opened = client.get(f"/s/{link}", query_string={"lang": token})
    assert start.status_code in CLEAR_ANSWERS
    assert opened.status_code in CLEAR_ANSWERS
    assert count(db, Response) == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe\xfd",
        b"\xc3\x28",
        b"\xed\xa0\x80",  # a UTF-8 encoded surrogate
        b"\xf4\x90\x80\x80",  # beyond U+10FFFF
        b"ok\x00ok",
    ],
)
def test_malformed_utf8_in_a_comment_is_refused_or_cleaned(client, db, audience, raw):
    student = Student(client, audience)
    student.start()
    for answers in PULSE_ANSWERS[:2]:
        student.page(answers)
    fields = {**student.form(action="submit"), **PULSE_ANSWERS[2]}
    body = (
        "&".join(
            f"{quote(name)}={quote(value)}"
            for name, value in fields.items()
            if name != "q-pulse_open_next_step"
        ).encode()
        + b"&q-pulse_open_next_step="
        + quote(raw).encode()
    )
    response = student.request(
        "POST",
        f"/s/{student.token}/answers",
        query_string={"lang": "en"},
        data=body,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code in (303, 400, 422)
    for text in db.session.scalars(sa.select(Comment.text)):
        assert "\x00" not in text


def test_invisible_and_bidi_characters_are_removed_before_storage(client, db, audience):
    student = Student(client, audience)
    comment = "Hi\x00 the\u200bre \u202eevil\u202c \u2066x\u2069 \ufeffend"
    last = {**PULSE_ANSWERS[2], "q-pulse_open_next_step": comment}
    assert student.complete((*PULSE_ANSWERS[:2], last)).status_code == 303
    stored = db.session.scalar(sa.select(Comment.text))
    assert stored == "Hi there evil x end"


def test_oversized_body_gets_413_with_a_clear_page(client, db, audience, app):
    student = Student(client, audience)
    student.start()
    huge = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = student.page({"q-pulse_open_next_step": huge})
    assert response.status_code == 413
    assert "too much to send at once" in student.html
    assert count(db, Response) == 0


# --- every route, every role -----------------------------------------------------

url_values = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(NASTY),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30),
)
query_strings = st.dictionaries(
    st.sampled_from(["lang", "next", "page", "group", "survey", "q", "sort", "code"])
    | st.text(max_size=8),
    hostile_text,
    max_size=4,
)
#: Routes that end the session the fuzzer browses with.
SESSION_ENDERS = ("logout", "sign_out")


@pytest.fixture
def world(db, make_user):
    return build_world(make_user)


@pytest.mark.parametrize("visitor", [None, *(role.value for role in Role)])
def test_random_route_parameters_never_fail(app, db, world, visitor):
    client = app.test_client()
    with app.app_context():
        if visitor is not None:
            sign_in(client, world.accounts[visitor][0])
    rules = get_rules(app)

    @FUZZ
    @given(data=st.data())
    def visit(data):
        rule = data.draw(st.sampled_from(rules))
        values = {
            argument: quote(data.draw(url_values), safe="") or "0"
            for argument in rule.arguments
            if data.draw(st.booleans())
        }
        path = fill(rule, world, **values)
        with app.app_context():
            response = client.get(path, query_string=data.draw(query_strings))
        assert response.status_code in CLEAR_ANSWERS, (path, response.status_code)

    visit()


@pytest.mark.parametrize("visitor", [None, *(role.value for role in Role)])
def test_random_staff_forms_never_fail_or_store_answers(app, db, world, visitor):
    client = app.test_client()
    with app.app_context():
        if visitor is not None:
            sign_in(client, world.accounts[visitor][0])
        form_page = "/staff/account" if visitor else "/staff/login"
        token = csrf_token(client.get(form_page).get_data(as_text=True))
    rules = [
        rule
        for rule in post_rules(app)
        if not any(word in rule.endpoint for word in SESSION_ENDERS)
    ]

    @FUZZ
    @given(data=st.data())
    def post(data):
        rule = data.draw(st.sampled_from(rules))
        fields = data.draw(
            st.dictionaries(
                st.text(max_size=16), st.lists(hostile_text, max_size=2), max_size=8
            )
        )
        fields["csrf_token"] = [token]
        with app.app_context():
            limiter.reset()
            response = client.post(fill(rule, world), data=fields)
        assert response.status_code in CLEAR_ANSWERS, (rule.rule, response.status_code)

    post()
    assert count(db, Response) == 0
