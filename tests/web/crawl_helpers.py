"""A small world with every role in it, and every route of the app to visit in it.

Used by the header and fuzz tests: they do not know which pages other engineers add,
so they read the app's URL map and fill each route's parameters with ids that exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from tests.conftest import csrf_token
from tests.factories import PASSWORD
from tests.web.take_helpers import publish
from voice.extensions import db
from voice.models import Role, StaffUser, SurveyAudience


@dataclass
class World:
    """Ids of a school with an open survey, its group, and one account per role."""

    school_id: int
    survey_id: int
    group_id: int
    token: str
    #: role name -> (email, user id)
    accounts: dict[str, tuple[str, int]] = field(default_factory=dict)

    def value_for(self, argument: str) -> str:
        """Return an existing id for a route parameter, by its name."""
        if argument == "token":
            return self.token
        if "group" in argument:
            return str(self.group_id)
        if "user" in argument:
            return str(self.accounts["admin"][1])
        if "school" in argument:
            return str(self.school_id)
        return str(self.survey_id)


def build_world(make_user) -> World:
    """Publish an open survey to one group and make one account per role."""
    audience: SurveyAudience = publish()
    school = audience.survey.school
    world = World(
        school_id=school.id,
        survey_id=audience.survey_id,
        group_id=audience.group_id,
        token=audience.token,
    )
    for role in Role:
        groups = () if role in (Role.admin, Role.leader) else (audience.group,)
        user: StaffUser = make_user(role=role, school=school, groups=groups)
        world.accounts[role.value] = (user.email, user.id)
    db.session.commit()
    return world


def sign_in(client: FlaskClient, email: str) -> None:
    """Sign ``client`` in through the real login form."""
    token = csrf_token(client.get("/staff/login").get_data(as_text=True))
    response = client.post(
        "/staff/login",
        data={"csrf_token": token, "email": email, "password": PASSWORD},
    )
    assert response.status_code == 302, "sign-in failed"


def get_rules(app: Flask) -> list[Rule]:
    """Return every GET route of the app except static files."""
    return sorted(
        (
            rule
            for rule in app.url_map.iter_rules()
            if "GET" in (rule.methods or ()) and rule.endpoint != "static"
        ),
        key=lambda rule: rule.rule,
    )


def post_rules(app: Flask) -> list[Rule]:
    """Return every POST route of the app."""
    return sorted(
        (rule for rule in app.url_map.iter_rules() if "POST" in (rule.methods or ())),
        key=lambda rule: rule.rule,
    )


def fill(rule: Rule, world: World, **values: str) -> str:
    """Build a concrete path for ``rule``: given values first, then existing ids."""
    path = rule.rule
    for argument in rule.arguments:
        value = values.get(argument, world.value_for(argument))
        path = re.sub(rf"<(?:[^:<>]+:)?{argument}>", value, path)
    return path
