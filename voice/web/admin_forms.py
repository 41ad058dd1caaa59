"""Flask-WTF forms of the admin pages: surveys, windows, ballot codes, groups."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from config import MIN_CELL_FLOOR
from voice.publishing import MAX_CODES_PER_BATCH

#: What ``<input type="datetime-local">`` sends (minutes, no zone: read as UTC).
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class ActionForm(FlaskForm):
    """A button that changes data: only its CSRF token is posted."""


class WindowForm(FlaskForm):
    """When a wave takes answers (UTC)."""

    opens_at = DateTimeLocalField(
        _l("Opens (UTC)"), format=DATETIME_LOCAL, validators=[DataRequired()]
    )
    closes_at = DateTimeLocalField(
        _l("Closes (UTC)"), format=DATETIME_LOCAL, validators=[DataRequired()]
    )

    def validate_closes_at(self, field: DateTimeLocalField) -> None:
        """Refuse a window that closes before it opens."""
        if self.opens_at.data and field.data and field.data <= self.opens_at.data:
            raise ValidationError(_l("The survey must close after it opens."))


class SurveyForm(WindowForm):
    """A new wave, made from an instrument of the library."""

    instrument = SelectField(_l("Instrument"), validators=[DataRequired()])
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    wave_label = StringField(
        _l("Wave label"), validators=[DataRequired(), Length(max=80)]
    )
    school = SelectField(_l("School"), coerce=int)
    groups = SelectMultipleField(
        _l("Affinity groups"),
        coerce=int,
        validators=[DataRequired(_l("Choose at least one affinity group."))],
    )
    languages = SelectMultipleField(
        _l("Languages"),
        validators=[DataRequired(_l("Choose at least one language."))],
    )
    min_cell = IntegerField(
        _l("Smallest group shown (k)"),
        validators=[
            InputRequired(_l("Enter a whole number.")),
            NumberRange(
                min=MIN_CELL_FLOOR,
                message=_l(
                    "k must be at least %(floor)s: smaller groups could be identified.",
                    floor=MIN_CELL_FLOOR,
                ),
            ),
        ],
    )
    access_mode = RadioField(
        _l("How students get in"),
        choices=[
            SelectChoice("codes", _l("Ballot codes (one answer per code)")),
            SelectChoice("link", _l("Open link")),
        ],
        default="codes",
    )


class CodesForm(FlaskForm):
    """A batch of single-use ballot codes for one group."""

    count = IntegerField(
        _l("How many codes"),
        validators=[
            InputRequired(_l("Enter a whole number.")),
            NumberRange(min=1, max=MAX_CODES_PER_BATCH),
        ],
    )
    output = RadioField(
        _l("Format"),
        choices=[
            SelectChoice("sheet", _l("Printable sheet of cut-apart cards")),
            SelectChoice(
                "csv", _l("CSV file (spreadsheet, mail merge, label printer)")
            ),
        ],
        default="sheet",
    )


class GroupForm(FlaskForm):
    """An affinity group's names, description and expected size."""

    school = SelectField(_l("School"), coerce=int)
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    name_es = StringField(_l("Spanish name"), validators=[Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[Length(max=2000)])
    expected_size = IntegerField(
        _l("Expected number of students"),
        validators=[Optional(), NumberRange(min=0, max=100_000)],
    )
