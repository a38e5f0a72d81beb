"""A bounded property-based run against the API's own OpenAPI document (schemathesis): for every
operation, generated requests with an admin token and with an agent's never get a 500, and every
answer (status, content type, body) is one the schema describes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlmodel import Session

from bot.app import TousuApp
from bot.web.api import tokens
from bot.web.server import create_web_app
from bot.web.token_buckets import TokenBuckets
from storage import migrate
from storage.db import make_unpooled_engine
from storage.models import Conversation, Customer, Staff, Ticket
from tests.bot.web.api.live import serving
from tests.conftest import make_settings
from tests.databases import empty_postgres

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
TOKENS: dict[str, str] = {}


def _seed(url: str) -> None:
    """A customer with a ticket and a waiting conversation, the staff, and two tokens."""
    migrate.upgrade(url)
    now = datetime(2026, 11, 23, 2, tzinfo=UTC)
    engine = make_unpooled_engine(url)
    with Session(engine) as session:
        session.add(
            Staff(username="wangfang", display_name="王芳", departments=["quality"], roles=["handler"])
        )
        customer = Customer(channel="console", external_id="fuzz", name="客户")
        session.add(customer)
        session.flush()
        assert customer.id is not None
        session.add(
            Ticket(
                number="2611230001",
                kind="complaint",
                channel="console",
                customer_id=customer.id,
                department="quality",
                assignee="wangfang",
                description="电热水壶漏水",
                created_at=now,
                updated_at=now,
            )
        )
        session.add(
            Conversation(
                channel="console",
                user_id="fuzz",
                customer_id=customer.id,
                flow="intake",
                flow_version=1,
                status="agent",
                waiting_since=now,
            )
        )
        for name, role in (("root", "admin"), ("wangfang", "agent")):
            TOKENS[name] = tokens.create(session, name=name, role=role, department=None, now=now).secret
        session.commit()
    engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_schema(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The served app on each backend: PostgreSQL refuses what SQLite takes (NUL, big ids)."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    db_url: str | None = None
    if request.param == "postgresql":
        db_url = request.getfixturevalue("postgres_url")
        empty_postgres(db_url)
    settings_ = make_settings(folder, db_url=db_url, scheduler={"enabled": False})
    _seed(settings_.database_url)
    tousu = TousuApp(settings_, channels=[], use_nlu=False)
    web = create_web_app(tousu)
    api = next(r.app for r in web.routes if getattr(r, "path", "") == "/api/v1")  # type: ignore[attr-defined]
    api.state.buckets = TokenBuckets(rate=10_000, burst=10_000, max_keys=16)  # the limit is tested apart
    with serving(web) as base:
        yield schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")


FUZZ = settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _fuzz(api_schema: Any, token: str) -> int:
    """Every operation, valid and invalid requests; the number of operations run."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @FUZZ
            def run(case: Any) -> None:
                case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

            run()
    return len(operations)


def test_an_admin_token_gets_answers_the_schema_describes(api_schema: Any) -> None:
    assert _fuzz(api_schema, TOKENS["root"]) >= 12


def test_an_agent_token_gets_answers_the_schema_describes(api_schema: Any) -> None:
    assert _fuzz(api_schema, TOKENS["wangfang"]) >= 12
