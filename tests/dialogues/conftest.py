from __future__ import annotations

import pytest

from dialogues.spec import Flow
from tests.dialogues.helpers import DEFAULT_NLU_RULES, FakeNlu, intake


@pytest.fixture(scope="session")
def flow() -> Flow:
    return intake()


@pytest.fixture
def nlu() -> FakeNlu:
    return FakeNlu(DEFAULT_NLU_RULES)
