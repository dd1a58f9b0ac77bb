"""The README works for a newcomer with a clone of this repository and nothing else (issue 13):

- every relative link of the README and of docs/ leads to a file of the repository (no `../shared/spec/...`);
- `make run PORT=...` serves, and prints its addresses, on that port;
- the tour's "Watch the clock" example, done as written on a fresh demo at any hour, fires the reminder it promises,
  and running it again for the same moment fires nothing.
"""

import json
import re
import shutil
import subprocess
from datetime import datetime
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
WARSAW = ZoneInfo("Europe/Warsaw")

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _relative_links(path: Path) -> list[str]:
    return [target for target in LINK.findall(path.read_text(encoding="utf-8")) if not re.match(r"^[a-z]+:|^#|^/", target)]


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_of_the_repository(doc):
    for target in _relative_links(doc):
        resolved = (doc.parent / target.split("#", 1)[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{doc.name} links outside the repository: {target}"
        assert resolved.exists(), f"{doc.name} links to a missing file: {target}"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_serves_and_prints_its_addresses_on_the_port_given():
    # -n: print what `make run` would do, run nothing.
    plan = subprocess.run(["make", "-n", "run", "PORT=18471"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert plan.returncode == 0, plan.stderr
    assert "runserver 127.0.0.1:18471" in plan.stdout
    assert "http://127.0.0.1:18471/admin/" in plan.stdout and "http://127.0.0.1:18471/api/v1/leads/" in plan.stdout
    assert ":8000" not in plan.stdout


def _tour_clock_block() -> str:
    """Step 4's shell block ("Watch the clock"), as the README has it."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    found = [block for block in blocks if "sla_tick" in block]
    assert len(found) == 1, "the README's tour has one block that runs sla_tick"
    return found[0]


@pytest.mark.parametrize(
    "sent_at",
    [
        datetime(2026, 11, 17, 10, 0, tzinfo=WARSAW),  # a working Tuesday morning
        datetime(2026, 11, 20, 17, 30, tzinfo=WARSAW),  # Friday after hours
        datetime(2026, 11, 22, 12, 0, tzinfo=WARSAW),  # a Sunday
        datetime(2026, 12, 24, 15, 50, tzinfo=WARSAW),  # Christmas Eve, ten minutes before closing
    ],
    ids=["tuesday", "friday-evening", "sunday", "christmas-eve"],
)
def test_the_tours_sweep_example_fires_the_reminder_on_a_fresh_demo_whenever_it_is_tried(demo, api, sent_at):
    block = _tour_clock_block()
    body = json.loads(re.search(r"-d '(\{.*?\})'", block, flags=re.S).group(1))
    assert re.search(r'DUE=.*\["sla_due_at"\]', block), "the sweep runs as of the lead's own deadline"
    assert 'sla_tick --now "$DUE"' in block

    with time_machine.travel(sent_at, tick=False):
        answer = api.post("/api/v1/leads/", data=json.dumps(body), content_type="application/json")
        assert answer.status_code == 201, answer.content
        lead = answer.json()
        first, again = StringIO(), StringIO()
        call_command("sla_tick", "--now", lead["sla_due_at"], stdout=first)
        call_command("sla_tick", "--now", lead["sla_due_at"], stdout=again)
        shown = api.get(f"/api/v1/leads/{lead['id']}/").json()

    fired = int(re.search(r"(\d+) step\(s\) fired", first.getvalue()).group(1))
    assert fired >= 1, first.getvalue()
    assert [event["type"] for event in shown["events"]].count("reminder") == 1
    assert "0 step(s) fired" in again.getvalue()
