"""Importing a domain module stays cheap and one-way: each import runs in a fresh interpreter."""

import json
import subprocess
import sys


def loaded_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``statement``."""
    script = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout))


def packages(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_campaign_options_load_neither_the_web_stack_nor_the_gateway_client():
    modules = loaded_after("import webapp.campaigns.options")
    assert not packages(modules) & {"httpx", "flask", "werkzeug", "sqlalchemy", "flask_login"}
    assert {"webapp.web", "webapp.api", "webapp.sending", "webapp.models"}.isdisjoint(modules)


def test_campaigns_do_not_import_the_sender():
    modules = loaded_after("import webapp.campaigns.service, webapp.campaigns.eta")
    assert not any(name.startswith("webapp.sending") for name in modules)
    assert "httpx" not in packages(modules)
