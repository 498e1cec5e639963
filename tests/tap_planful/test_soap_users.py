"""Users over SOAP (`Get_Users`, planful-soap.md §12): `startIndex` and the `hasMore` out element,
5,000 users a call. What `startIndex` counts is not public: emulator switch
`soap_users_start_index`; the tap reads the documented-looking "offset" reading whole and fails
in one line on the others instead of losing or repeating users."""

from __future__ import annotations

import pytest
from singer_sdk.exceptions import FatalAPIError
from tap_planful.streams import UsersStream
from tap_planful.tap import TapPlanful

from .helpers import soap_config, sync


def users_calls(emulator) -> list[str]:
    return [
        call.filters["startIndex"][1]
        for call in emulator.soap.calls
        if call.operation == "Get_Users"
    ]


def test_soap_offers_users_and_reads_them_in_one_call(planful):
    config = soap_config(planful.url)
    assert "users" in TapPlanful(config=config, parse_env_config=False).streams
    records = sync(config, {"users"}).records["users"]
    assert records == planful.emulator.users  # every field, in order, Status a boolean
    assert users_calls(planful.emulator) == ["0"]


def test_users_are_read_page_by_page_until_has_more_is_false(planful):
    planful.emulator.configure(soap_users_page_size=15)
    records = sync(soap_config(planful.url), {"users"}).records["users"]
    seeded = planful.emulator.users
    assert len(seeded) == 40
    assert records == seeded  # none lost, none twice
    assert users_calls(planful.emulator) == ["0", "15", "30"]


@pytest.mark.parametrize(
    ("start_index", "contradiction"),
    [("one_based", "a user already read"), ("page", "no users after hasMore=true")],
)
def test_another_start_index_reading_fails_in_one_line(planful, start_index, contradiction):
    planful.emulator.configure(soap_users_page_size=15, soap_users_start_index=start_index)
    with pytest.raises(FatalAPIError) as caught:
        sync(soap_config(planful.url), {"users"})
    message = str(caught.value)
    assert "\n" not in message
    assert f"Get_Users answered {contradiction} at startIndex 15" in message
    assert "@" not in message  # no user's login in the message


def test_the_rest_users_stream_says_its_path_is_unverified():
    assert "UNVERIFIED" in (UsersStream.__doc__ or "")
