"""The student path stays light: no machine learning or PDF library is loaded for it.

A whole school answers on phones in ten minutes; a worker that imported
scikit-learn or WeasyPrint to serve a survey page would pay their memory and start-up
time for nothing. Checked in a fresh interpreter, since this test session imports
everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sklearn", "weasyprint", "textblob", "tokenizers", "scipy")

SCRIPT = """
import json, sys
from config import TestingConfig
from voice import create_app
from voice.extensions import db
app = create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": sys.argv[1]})
with app.app_context():
    db.create_all()
    from tests.web.take_helpers import Student, publish
    loaded_at_start = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
    audience = publish()
    student = Student(app.test_client(), audience)
    status = student.complete().status_code
    thanks = student.request("GET", f"/s/{audience.token}/thanks").status_code
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
print(json.dumps({"status": [status, thanks], "loaded": loaded}))
"""


def test_student_routes_load_no_heavy_library(tmp_path):
    url = f"sqlite:///{tmp_path / 'light.sqlite3'}"
    program = f"HEAVY = {HEAVY!r}\n{SCRIPT}"
    result = subprocess.run(
        [sys.executable, "-c", program, url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"VOICE_INSTANCE_PATH": str(tmp_path / "instance"), "PATH": ""},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["status"] == [303, 200]
    assert outcome["loaded"] == []
