"""The front door: what Student Voice is, and where staff sign in."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    """Explain the product; students arrive by their survey link, never here."""
    return render_template("main/index.html")


@bp.get("/healthz")
def health():
    """Answer load balancers without touching the database."""
    return {"status": "ok"}
