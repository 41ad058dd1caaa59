"""SQLAlchemy 2.0 models.

Anonymity is structural (DESIGN invariant 1): ``Response``, ``Answer`` and ``Comment`` carry
no time, no sequential id and no link to a person, account, code, cookie or session.
``tests/web/test_models.py`` fails if that ever changes.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from voice.extensions import db


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Store UTC, always hand back aware datetimes (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Any
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(
        self, value: datetime | None, dialect: Any
    ) -> datetime | None:
        if value is None:
            return None
        return (
            value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        )


intpk = Annotated[int, mapped_column(primary_key=True)]
uuidpk = Annotated[uuid.UUID, mapped_column(primary_key=True, default=uuid.uuid4)]
str_slug = Annotated[str, mapped_column(sa.String(80))]
utc_datetime = Annotated[datetime, mapped_column(UTCDateTime)]
json_value = Annotated[Any, mapped_column(sa.JSON)]


def utcnow() -> datetime:
    """Return an aware UTC timestamp for staff-side records (never for responses)."""
    return datetime.now(UTC)


class Role(enum.Enum):
    """What a staff account may do (DESIGN invariant 5)."""

    admin = "admin"
    facilitator = "facilitator"
    reviewer = "reviewer"  # a student leader's account, scoped to their groups
    leader = "leader"


class SurveyStatus(enum.Enum):
    """Life cycle of one wave."""

    draft = "draft"
    open = "open"
    closed = "closed"


class AccessMode(enum.Enum):
    """How students reach the survey."""

    codes = "codes"  # single-use ballot codes: one response per code
    link = "link"  # one unguessable open link per group; cannot stop repeat answers


class Language(enum.Enum):
    """Languages a survey can be taken in (a catalog and item translations each)."""

    en = "en"
    es = "es"


class ModerationStatus(enum.Enum):
    """A comment is shown to reviewers and leaders only once approved."""

    pending = "pending"
    approved = "approved"
    hidden = "hidden"


class FindingKind(enum.Enum):
    """What a group writes during its cycle of inquiry."""

    finding = "finding"
    recommendation = "recommendation"


class LeaderAnswer(enum.Enum):
    """A leader's answer to a shared recommendation."""

    accepted = "accepted"
    in_progress = "in_progress"
    not_now = "not_now"


class School(db.Model):
    """A school; a district is the set of schools sharing ``district``."""

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(sa.String(200))
    slug: Mapped[str_slug] = mapped_column(unique=True)
    #: Name of the district the school belongs to (reports group by it).
    district: Mapped[str] = mapped_column(sa.String(200), default="")
    #: Shown on the thank-you page and beside at-risk flags: counselor, crisis lines.
    support_resources: Mapped[json_value] = mapped_column(default=dict)
    #: Regular expressions for this school's student ids, used by redaction.
    student_id_patterns: Mapped[json_value] = mapped_column(default=list)
    #: Names an admin uploaded so redaction can catch them in comments.
    redaction_names: Mapped[json_value] = mapped_column(default=list)

    groups: Mapped[list[AffinityGroup]] = relationship(
        back_populates="school", order_by="AffinityGroup.name"
    )
    surveys: WriteOnlyMapped[Survey] = relationship(
        back_populates="school", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<School {self.slug}>"


class AffinityGroup(db.Model):
    """An affinity group of students at a school (Black Student Union, ...)."""

    __table_args__ = (sa.UniqueConstraint("school_id", "slug"),)

    id: Mapped[intpk]
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("school.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    #: Spanish display name; empty means use ``name``.
    name_es: Mapped[str] = mapped_column(sa.String(200), default="")
    slug: Mapped[str_slug]
    description: Mapped[str] = mapped_column(sa.Text, default="")
    #: How many students the admin expects; used only to warn about groups below k.
    expected_size: Mapped[int | None]

    school: Mapped[School] = relationship(back_populates="groups")
    memberships: Mapped[list[GroupMembership]] = relationship(
        back_populates="group", cascade="all, delete-orphan"
    )

    def display_name(self, lang: str) -> str:
        """Return the group's name in ``lang``, falling back to English."""
        return self.name_es if lang == "es" and self.name_es else self.name

    def __repr__(self) -> str:
        return f"<AffinityGroup {self.slug}>"


class StaffUser(UserMixin, db.Model):
    """A staff or student-leader account. Students taking surveys never have one."""

    __table_args__ = (
        sa.CheckConstraint(
            "role != 'admin' OR school_id IS NOT NULL OR district != ''",
            name="admin_has_scope",
        ),
    )

    id: Mapped[intpk]
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    #: None until the person accepts their invitation and chooses a password.
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(sa.Enum(Role, native_enum=False, length=20))
    school_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("school.id"), index=True
    )
    #: District-wide admins and leaders see every school with this district name.
    district: Mapped[str] = mapped_column(sa.String(200), default="")
    language: Mapped[Language] = mapped_column(
        sa.Enum(Language, native_enum=False, length=5), default=Language.en
    )
    is_enabled: Mapped[bool] = mapped_column(default=True)
    #: Bumped to end every session of this account (logout everywhere, disable, scope change).
    session_version: Mapped[int] = mapped_column(default=1)
    #: Hash of the one-time invitation token; cleared when used.
    invite_token_hash: Mapped[str | None] = mapped_column(sa.String(128), unique=True)
    invite_expires_at: Mapped[utc_datetime | None]
    created_at: Mapped[utc_datetime] = mapped_column(default=utcnow)

    school: Mapped[School | None] = relationship()
    memberships: Mapped[list[GroupMembership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    def get_id(self) -> str:
        """Tie the login session to the account's session version (revocation)."""
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.is_enabled

    def __repr__(self) -> str:
        return f"<StaffUser {self.id} {self.role.value}>"


class GroupMembership(db.Model):
    """Which groups a facilitator or student reviewer may see."""

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("affinity_group.id", ondelete="CASCADE"), primary_key=True
    )

    user: Mapped[StaffUser] = relationship(back_populates="memberships")
    group: Mapped[AffinityGroup] = relationship(back_populates="memberships")


class Survey(db.Model):
    """One wave of one instrument at one school (e.g. "Fall 2026")."""

    __table_args__ = (
        sa.CheckConstraint("min_cell >= 5", name="min_cell_at_least_5"),
        sa.CheckConstraint("closes_at > opens_at", name="window_is_positive"),
        sa.UniqueConstraint("school_id", "slug"),
    )

    id: Mapped[intpk]
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("school.id"), index=True)
    slug: Mapped[str_slug]
    title: Mapped[str] = mapped_column(sa.String(200))
    #: Instrument library key, e.g. "climate-belonging", and its version.
    instrument_key: Mapped[str] = mapped_column(sa.String(80))
    instrument_version: Mapped[int]
    #: The instrument as it was published, so later library edits never change a wave.
    instrument_snapshot: Mapped[json_value]
    wave_label: Mapped[str] = mapped_column(sa.String(80))
    opens_at: Mapped[utc_datetime]
    closes_at: Mapped[utc_datetime]
    status: Mapped[SurveyStatus] = mapped_column(
        sa.Enum(SurveyStatus, native_enum=False, length=10), default=SurveyStatus.draft
    )
    #: Suppression threshold k for every figure of this wave.
    min_cell: Mapped[int] = mapped_column(default=10)
    languages: Mapped[json_value] = mapped_column(default=lambda: ["en", "es"])
    access_mode: Mapped[AccessMode] = mapped_column(
        sa.Enum(AccessMode, native_enum=False, length=10), default=AccessMode.codes
    )
    #: When storage was last rewritten in random order (staff-side bookkeeping only).
    resealed_at: Mapped[utc_datetime | None]
    created_at: Mapped[utc_datetime] = mapped_column(default=utcnow)

    school: Mapped[School] = relationship(back_populates="surveys")
    audiences: Mapped[list[SurveyAudience]] = relationship(
        back_populates="survey", cascade="all, delete-orphan"
    )

    def display_title(self, lang: str) -> str:
        """Return the title in ``lang``: the instrument's own translation while the
        admin kept the instrument's title, else the title the admin typed."""
        titles = (self.instrument_snapshot or {}).get("title") or {}
        if isinstance(titles, dict) and self.title == titles.get("en"):
            return titles.get(lang) or self.title
        return self.title

    def __repr__(self) -> str:
        return f"<Survey {self.id} {self.slug} {self.status.value}>"


class SurveyAudience(db.Model):
    """A survey published to one affinity group, reachable by an unguessable token."""

    __table_args__ = (sa.UniqueConstraint("survey_id", "group_id"),)

    id: Mapped[intpk]
    survey_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("affinity_group.id"), index=True
    )
    #: At least 128 random bits, URL-safe; the group's link is /s/<token>.
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)

    survey: Mapped[Survey] = relationship(back_populates="audiences")
    group: Mapped[AffinityGroup] = relationship()


class BallotCode(db.Model):
    """A single-use code. Holds a hash and a spent flag and nothing else (invariant 1).

    It is never linked to the response it allowed: no response id, no time of use.
    """

    __table_args__ = (sa.UniqueConstraint("survey_id", "code_hash"),)

    id: Mapped[uuidpk]
    survey_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey.id", ondelete="CASCADE"), index=True
    )
    #: The group the code was printed for (its response is stored under this group).
    audience_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey_audience.id", ondelete="CASCADE"), index=True
    )
    #: Keyed hash of the normalised code; the code itself is never stored.
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    is_spent: Mapped[bool] = mapped_column(default=False)


class Response(db.Model):
    """One student's answers. Deliberately holds no identity and no time (invariant 1)."""

    #: Random, so ids say nothing about order of arrival.
    id: Mapped[uuidpk]
    survey_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("affinity_group.id"), index=True
    )
    language: Mapped[Language] = mapped_column(
        sa.Enum(Language, native_enum=False, length=5)
    )

    answers: Mapped[list[Answer]] = relationship(
        back_populates="response", cascade="all, delete-orphan", passive_deletes=True
    )
    comments: Mapped[list[Comment]] = relationship(
        back_populates="response", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return "<Response>"  # never print anything that could identify or order it


class Answer(db.Model):
    """One closed answer: a scale value or one chosen option (several rows for multi)."""

    __table_args__ = (
        sa.CheckConstraint(
            "(numeric_value IS NULL) <> (choice_value IS NULL)",
            name="exactly_one_value",
        ),
        sa.Index("ix_answer_item", "item_key"),
    )

    #: Random, like the response's, so row ids do not order submissions.
    id: Mapped[uuidpk]
    response_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("response.id", ondelete="CASCADE"), index=True
    )
    item_key: Mapped[str] = mapped_column(sa.String(80))
    numeric_value: Mapped[int | None] = mapped_column(sa.SmallInteger)
    choice_value: Mapped[str | None] = mapped_column(sa.String(80))

    response: Mapped[Response] = relationship(back_populates="answers")

    def __repr__(self) -> str:
        return f"<Answer {self.item_key}>"


class Comment(db.Model):
    """An open-text answer, kept with its redacted form for display after moderation."""

    id: Mapped[uuidpk]
    response_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("response.id", ondelete="CASCADE"), index=True
    )
    item_key: Mapped[str] = mapped_column(sa.String(80))
    #: What the student wrote (normalised); shown to no one before redaction.
    text: Mapped[str] = mapped_column(sa.Text)
    redacted_text: Mapped[str] = mapped_column(sa.Text, default="")
    sentiment: Mapped[float | None]
    #: Safety flags for the moderation queue ({"at_risk": bool, "bias": int, ...}).
    flags: Mapped[json_value] = mapped_column(default=dict)
    moderation: Mapped[ModerationStatus] = mapped_column(
        sa.Enum(ModerationStatus, native_enum=False, length=10),
        default=ModerationStatus.pending,
    )
    moderation_note: Mapped[str] = mapped_column(sa.Text, default="")

    response: Mapped[Response] = relationship(back_populates="comments")

    def __repr__(self) -> str:
        return f"<Comment {self.item_key}>"  # never the text


class Finding(db.Model):
    """A finding or recommendation an affinity group writes for one wave."""

    id: Mapped[intpk]
    survey_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("affinity_group.id"), index=True
    )
    kind: Mapped[FindingKind] = mapped_column(
        sa.Enum(FindingKind, native_enum=False, length=20)
    )
    text: Mapped[str] = mapped_column(sa.Text)
    #: Who the recommendation is for ("school leadership", "counselors", ...).
    audience: Mapped[str] = mapped_column(sa.String(200), default="")
    #: Optional link to a released figure or theme, by its key in the release.
    figure_key: Mapped[str | None] = mapped_column(sa.String(200))
    author_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[utc_datetime] = mapped_column(default=utcnow)
    #: Nothing reaches leaders until the group shares it.
    shared_at: Mapped[utc_datetime | None]
    leader_answer: Mapped[LeaderAnswer | None] = mapped_column(
        sa.Enum(LeaderAnswer, native_enum=False, length=20)
    )
    leader_note: Mapped[str] = mapped_column(sa.Text, default="")
    answered_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL")
    )
    answered_at: Mapped[utc_datetime | None]

    author: Mapped[StaffUser | None] = relationship(foreign_keys=[author_id])
    answered_by: Mapped[StaffUser | None] = relationship(foreign_keys=[answered_by_id])
    group: Mapped[AffinityGroup] = relationship()


class Release(db.Model):
    """The one protected, immutable release of a closed wave (invariant 2)."""

    __table_args__ = (sa.UniqueConstraint("survey_id", "version"),)

    id: Mapped[intpk]
    survey_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(default=1)
    #: The released figures, already suppressed and coded: the only display source.
    content: Mapped[json_value]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    #: The linear-programming audit that cleared it for publication.
    audit: Mapped[json_value]
    created_at: Mapped[utc_datetime] = mapped_column(default=utcnow)


class Report(db.Model):
    """A generated PDF summary, kept so the emailed file can be re-downloaded."""

    id: Mapped[intpk]
    survey_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey.id", ondelete="CASCADE"), index=True
    )
    #: "school" or "group:<id>".
    scope: Mapped[str] = mapped_column(sa.String(40))
    language: Mapped[Language] = mapped_column(
        sa.Enum(Language, native_enum=False, length=5)
    )
    release_sha256: Mapped[str] = mapped_column(sa.String(64))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    pdf: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    generated_at: Mapped[utc_datetime] = mapped_column(default=utcnow)


class AuditEvent(db.Model):
    """One staff action that revealed or changed data (invariant 5)."""

    id: Mapped[intpk]
    actor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), index=True
    )
    #: Kept even if the account is deleted later.
    actor_email: Mapped[str] = mapped_column(sa.String(254), default="")
    action: Mapped[str] = mapped_column(sa.String(80), index=True)
    target: Mapped[str] = mapped_column(sa.String(200), default="")
    detail: Mapped[json_value] = mapped_column(default=dict)
    at: Mapped[utc_datetime] = mapped_column(default=utcnow, index=True)

    actor: Mapped[StaffUser | None] = relationship()


class ThemeOverride(db.Model):
    """An admin's rename or merge of a theme in a release; renames seed the next wave."""

    __table_args__ = (sa.UniqueConstraint("survey_id", "theme_key"),)

    id: Mapped[intpk]
    survey_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey.id", ondelete="CASCADE"), index=True
    )
    #: The theme's stable key inside the release (item key + theme number).
    theme_key: Mapped[str] = mapped_column(sa.String(120))
    label: Mapped[str] = mapped_column(sa.String(200), default="")
    #: When set, this theme is shown as part of that other theme.
    merged_into: Mapped[str | None] = mapped_column(sa.String(120))


class OutboundMail(db.Model):
    """An email waiting to be delivered; retried until sent, failures kept visible."""

    id: Mapped[intpk]
    recipient: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)
    report_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("report.id", ondelete="SET NULL")
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[utc_datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[utc_datetime | None]

    report: Mapped[Report | None] = relationship()
