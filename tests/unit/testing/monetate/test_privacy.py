"""The privacy reading of what Monetate does with an erased ID sent again (monetate.erased_seen_again)."""

from __future__ import annotations

import pytest

from airflow_provider_monetate.testing.readings import readings_of

DAY = 86_400


@pytest.mark.parametrize("reading", readings_of("monetate.erased_seen_again"))
def test_an_erased_id_sent_again_is_purged_again_or_kept(emulator, shop, reading):
    emulator.set_reading("monetate.erased_seen_again", reading)
    assert shop.post("data/gdpr/", {"customer_id": "C1", "delete_request_time": "2030-01-10T09:00:00Z"}).status_code \
        == 201
    emulator.clock.advance(DAY)  # past the nightly batch
    assert emulator.privacy_status("testshop", "C1") == "NOT_FOUND"
    assert shop.post_rows("customers", [{"customer_id": "C1", "points": 2}]).status_code == 201  # sent again
    if reading == "purged":  # the seed: Monetate keeps purging an erased ID it sees again
        assert emulator.privacy_status("testshop", "C1") == "PENDING"
        emulator.clock.advance(DAY)
        assert emulator.privacy_status("testshop", "C1") == "NOT_FOUND"
    else:  # the Compliance Tools page: erasure does not stop future collection
        assert emulator.privacy_status("testshop", "C1") == "FOUND"
        emulator.clock.advance(DAY)
        assert emulator.privacy_status("testshop", "C1") == "FOUND"
    assert shop.post_rows("customers", [{"customer_id": "C9", "points": 1}]).status_code == 201
    assert emulator.privacy_status("testshop", "C9") == "FOUND"  # never erased: only held
