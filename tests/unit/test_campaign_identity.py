"""A campaign's identity is its science: resources, workers and time limits may change between runs (a campaign
moved to a cluster, a longer walltime); elements or exploration may not. A config stored before a field was added
still matches the same config now."""

from pyacemaker.campaign.launchpad import config_hash, same_science
from pyacemaker.config import parse_config, resolve
from pyacemaker.schemas.campaign import CampaignDoc

BASE = {"name": "id", "elements": ["Cu"], "oracle": {"type": "emt"}}


def _cfg(**extra):
    return resolve(parse_config({**BASE, **extra}))[0]


def _doc(cfg) -> CampaignDoc:
    return CampaignDoc(name="id", config=cfg.model_dump(mode="json"), config_hash=config_hash(cfg))


def test_runtime_settings_keep_the_campaign_science_does_not():
    doc = _doc(_cfg())
    assert same_science(doc, _cfg(resources={"train": {"cpus_per_task": 8, "walltime": "12:00:00"}}))
    assert same_science(doc, _cfg(workers={"label_batches": 4}, train={"timeout_s": 600}))
    assert not same_science(doc, _cfg(explore={"temperatures": [300, 900]}))
    assert not same_science(doc, _cfg(budget={"max_oracle_calls": 7}))


def test_a_config_stored_before_a_field_existed_still_matches():
    cfg = _cfg()
    stored = cfg.model_dump(mode="json")
    del stored["train"]["timeout_s"]  # as written by a version without the field
    doc = CampaignDoc(name="id", config=stored, config_hash="recorded-by-the-old-hash")
    assert same_science(doc, cfg)
