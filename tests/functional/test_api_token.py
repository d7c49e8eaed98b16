from tests.functional.conftest import Api
async def test_p(api_any: Api) -> None:
    assert await api_any.ok("GET", "/api/status", token="")
