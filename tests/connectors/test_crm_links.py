"""Links from the deal page to the record in its CRM (`connectors.crm_links`)."""

from __future__ import annotations

from connectors.crm_links import HUBSPOT, SALESFORCE, crm_of, record_link


def _link(deal_id="006A", *, source="salesforce", detail=None, sources=None, environ=None):
    return record_link(
        deal_id, source=source, detail=detail, sources=sources or {}, environ=environ or {}
    )


def test_which_crm_a_snapshot_comes_from():
    assert crm_of("salesforce", None) == SALESFORCE
    assert crm_of("hubspot", {}) == HUBSPOT
    assert crm_of("files", {"preset": "salesforce_export"}) == SALESFORCE
    assert crm_of("files", {"preset": "fivetran_salesforce"}) == SALESFORCE
    assert crm_of("files", {"preset": "fivetran_hubspot"}) == HUBSPOT
    assert crm_of("files", {"preset": None}) is None
    assert crm_of("demo", {"seed": 7}) is None


def test_salesforce_instance_url_setting_then_recorded_then_environment():
    recorded = {"instance_url": "https://recorded.my.salesforce.com"}
    env = {"SF_INSTANCE_URL": "env.my.salesforce.com"}  # a bare host gets https
    setting = {"salesforce": {"instance_url": "https://acme.my.salesforce.com/"}}
    assert _link(detail=recorded, sources=setting, environ=env).url == (
        "https://acme.my.salesforce.com/lightning/r/Opportunity/006A/view"
    )
    assert _link(detail=recorded, environ=env).url.startswith("https://recorded.my.")
    assert (
        _link(environ=env).url == "https://env.my.salesforce.com/lightning/r/Opportunity/006A/view"
    )


def test_no_link_says_why():
    missing = _link()
    assert missing.url is None and missing.crm == SALESFORCE
    assert "instance_url" in missing.why and "[sources.salesforce]" in missing.why
    # not an address: never turned into a link (a javascript: URL, a path)
    for bad in ("javascript:alert(1)", "https://acme.com/x?y", "ftp://acme.com"):
        link = _link(sources={"salesforce": {"instance_url": bad}})
        assert link.url is None and "is not an address" in link.why
    demo = _link(source="demo")
    assert demo.url is None and demo.why == (
        "No link to a CRM record: the demo org is generated, it has no CRM."
    )
    unknown = _link(source="files", detail={"preset": "my_mapping"})
    assert unknown.url is None and "does not say which CRM" in unknown.why


def test_hubspot_portal_id():
    export = {"preset": "fivetran_hubspot"}
    assert _link("123", source="files", detail=export).url is None
    setting = {"hubspot": {"portal_id": 4512345}}
    assert _link("123", source="files", detail=export, sources=setting).url == (
        "https://app.hubspot.com/contacts/4512345/deal/123"
    )
    env = {"HUBSPOT_PORTAL_ID": "99"}
    assert _link("123", source="hubspot", environ=env).url.endswith("/contacts/99/deal/123")
    bad = _link("123", source="hubspot", environ={"HUBSPOT_PORTAL_ID": "acme"})
    assert bad.url is None and "is not a number" in bad.why


def test_the_record_id_is_escaped_in_the_url():
    link = _link("a/b?c#d", environ={"SF_INSTANCE_URL": "https://x.my.salesforce.com"})
    assert link.url == "https://x.my.salesforce.com/lightning/r/Opportunity/a%2Fb%3Fc%23d/view"
