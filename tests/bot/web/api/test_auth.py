"""Bearer tokens: only a hash is stored, a revoked or unknown token is 401, a token's role is the
one it was made with, and each token has its own rate limit."""

from __future__ import annotations

from sqlmodel import Session, select

from bot.web.api import tokens
from bot.web.token_buckets import TokenBuckets
from storage.models import ApiToken
from storage.repositories import api_tokens
from tests.bot.web.api.helpers import ApiDesk


async def test_only_the_hash_is_stored_and_the_token_finds_its_row(desk: ApiDesk) -> None:
    secret = desk.secrets["root"]

    def rows(session: Session) -> list[ApiToken]:
        return list(session.exec(select(ApiToken)).all())

    stored = await desk.app.db.run(rows)
    assert len(stored) == 4
    for row in stored:
        assert secret not in {str(v) for v in row.model_dump().values()}
    root = next(r for r in stored if r.name == "root")
    assert root.token_hash == tokens.token_hash(secret) and secret.startswith(root.prefix)
    found = await desk.app.db.run(lambda s: tokens.find(s, secret))
    assert found is not None and found.name == "root"
    assert await desk.app.db.run(lambda s: tokens.find(s, secret + "x")) is None


async def test_names_roles_and_reuse_after_revoking(desk: ApiDesk) -> None:
    now = desk.clock()

    def attempt(session: Session, name: str, role: str) -> str:
        try:
            return tokens.create(session, name=name, role=role, department=None, now=now).secret
        except tokens.TokenError as exc:
            return f"refused: {exc}"

    assert (await desk.app.db.run(lambda s: attempt(s, "root", "admin"))).startswith("refused: a live")
    assert (await desk.app.db.run(lambda s: attempt(s, "crm", "owner"))).startswith("refused: unknown role")
    assert (await desk.app.db.run(lambda s: attempt(s, "c r m", "agent"))).startswith("refused: a token name")
    assert await desk.app.db.run(lambda s: api_tokens.revoke(s, name="root", now=now))
    async with desk.client("root") as old:
        gone = await old.get("/me")
    assert gone.status_code == 401 and gone.json() == {"detail": "unknown or revoked token"}
    fresh = await desk.app.db.run(lambda s: attempt(s, "root", "admin"))
    assert fresh.startswith(tokens.PREFIX)
    desk.secrets["root"] = fresh
    async with desk.client("root") as client:
        assert (await client.get("/me")).json() == {"name": "root", "role": "admin", "department": None}


async def test_missing_and_malformed_credentials_are_401_with_a_detail(desk: ApiDesk) -> None:
    async with desk.client() as client:
        missing = await client.get("/me")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert missing.json() == {"detail": "send Authorization: Bearer <token>"}
        basic = await client.get("/me", headers={"Authorization": "Basic cm9vdDpyb290"})
        assert basic.status_code == 401
        wrong = await client.get("/me", headers={"Authorization": "Bearer tsu_nothing"})
        assert wrong.status_code == 401 and wrong.json()["detail"] == "unknown or revoked token"
    async with desk.client("zhaoliu") as client:
        assert (await client.get("/me")).json() == {
            "name": "zhaoliu",
            "role": "supervisor",
            "department": "quality",
        }


async def test_each_token_has_its_own_rate_limit(desk: ApiDesk) -> None:
    api = next(r.app for r in desk.web.routes if getattr(r, "path", "") == "/api/v1")
    api.state.buckets = TokenBuckets(rate=0.001, burst=3, max_keys=16)
    async with desk.client("wangfang") as client:
        codes = [(await client.get("/me")).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert (await client.get("/me")).json() == {"detail": "too many requests for this token; slow down"}
    async with desk.client("lisi") as other:
        assert (await other.get("/me")).status_code == 200


async def test_the_schema_and_docs_need_no_token(desk: ApiDesk) -> None:
    async with desk.client() as client:
        schema = await client.get("/openapi.json")
        assert schema.status_code == 200
        assert "/me" in schema.json()["paths"]
        assert schema.json()["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
        docs = await client.get("/docs")
        assert docs.status_code == 200 and "/api/v1/openapi.json" in docs.text


async def test_a_tokens_last_use_is_written_to_the_minute(desk: ApiDesk) -> None:
    def last_used(session: Session) -> object:
        row = api_tokens.by_name(session, name="wangfang")
        assert row is not None
        return row.last_used_at

    assert await desk.app.db.run(last_used) is None
    first = desk.clock()
    async with desk.client("wangfang") as client:
        assert (await client.get("/me")).status_code == 200
        assert await desk.app.db.run(last_used) == first
        desk.clock.advance(seconds=30)
        await client.get("/me")
        assert await desk.app.db.run(last_used) == first  # within the minute: no write
        desk.clock.advance(seconds=31)
        await client.get("/me")
        assert await desk.app.db.run(last_used) == desk.clock()
