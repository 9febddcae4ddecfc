//! Custom component versions: stored immutably with their bytes and description, republishing
//! the same bytes is harmless, other bytes under a taken version are refused, the latest version
//! is the highest by semantic versioning, and one organization never sees another's.

mod common;

use serde_json::json;
use weft_db::*;

use common::TestDb;

db_tests!(versions_are_immutable_and_latest_is_highest, components_belong_to_their_organization);

const T0: Millis = 1_700_000_000_000;

fn version(key: &str, version: &str, wasm: &[u8]) -> NewComponentVersion {
    NewComponentVersion {
        key: key.into(),
        name: format!("{key} {version}"),
        description: Some(format!("{key} at {version}")),
        version: version.into(),
        info: json!({"key": key, "version": version, "actions": [{"key": "list"}]}),
        sha256: format!("sha-of-{}", wasm.iter().map(|b| b.to_string()).collect::<Vec<_>>().join("-")),
        wasm: wasm.to_vec(),
    }
}

async fn versions_are_immutable_and_latest_is_highest(t: &TestDb) {
    let db = &t.db;
    let (org, _) = db.ensure_organization("vendor", T0).await.unwrap();
    // Bytes that are not text: zeros and high bytes survive the round trip.
    let v1 = [0u8, 97, 115, 109, 255, 0, 13, 10];
    let (stored, created) = db.publish_component_version(&org.id, &version("crm", "1.0.0", &v1), T0).await.unwrap();
    assert!(created);
    assert_eq!((stored.version.as_str(), stored.size_bytes), ("1.0.0", 8));

    // The same bytes again: the existing version, nothing written.
    let (again, created) = db.publish_component_version(&org.id, &version("crm", "1.0.0", &v1), T0 + 1).await.unwrap();
    assert!(!created);
    assert_eq!(again, stored);
    // Other bytes under the same version: refused, and the stored bytes are unchanged.
    let err = db.publish_component_version(&org.id, &version("crm", "1.0.0", &[1, 2]), T0 + 2).await.unwrap_err();
    assert!(
        matches!(&err, DbError::Conflict(m) if m.contains("`crm` version 1.0.0") && m.contains("immutable")),
        "{err}"
    );
    let (_, bytes) = db.component_version_by_key(&org.id, "crm", "1.0.0", true).await.unwrap().unwrap();
    assert_eq!(bytes.as_deref(), Some(&v1[..]));
    // Not a semantic version: refused, naming it.
    let err = db.publish_component_version(&org.id, &version("crm", "v2", &[3]), T0 + 3).await.unwrap_err();
    assert!(matches!(&err, DbError::Invalid(m) if m.contains("`v2` is not a semantic version")), "{err}");

    // Latest is the highest version, not the last published; name follows the latest.
    db.publish_component_version(&org.id, &version("crm", "2.0.0", &[2]), T0 + 4).await.unwrap();
    db.publish_component_version(&org.id, &version("crm", "1.10.0", &[3]), T0 + 5).await.unwrap();
    let c = db.get_component(&org.id, "crm").await.unwrap().unwrap();
    assert_eq!((c.latest_version.as_deref(), c.name.as_str()), (Some("2.0.0"), "crm 2.0.0"));
    assert_eq!(db.get_component(&org.id, &c.id).await.unwrap().unwrap(), c);
    let listed: Vec<String> =
        db.list_component_versions(&org.id, &c.id).await.unwrap().into_iter().map(|v| v.version).collect();
    assert_eq!(listed, ["2.0.0", "1.10.0", "1.0.0"]);
    let (v, bytes) = db.component_version_by_key(&org.id, "crm", "1.10.0", false).await.unwrap().unwrap();
    assert_eq!((v.info["version"].as_str(), bytes), (Some("1.10.0"), None));
    assert!(db.component_version_by_key(&org.id, "crm", "9.9.9", true).await.unwrap().is_none());
    // The catalog: each component at its latest version.
    db.publish_component_version(&org.id, &version("billing", "0.1.0", &[4]), T0 + 6).await.unwrap();
    let latest: Vec<(String, String)> =
        db.latest_component_versions(&org.id).await.unwrap().into_iter().map(|(k, v)| (k, v.version)).collect();
    assert_eq!(latest, [("billing".to_string(), "0.1.0".to_string()), ("crm".to_string(), "2.0.0".to_string())]);
}

async fn components_belong_to_their_organization(t: &TestDb) {
    let db = &t.db;
    let (a, _) = db.ensure_organization("a", T0).await.unwrap();
    let (b, _) = db.ensure_organization("b", T0).await.unwrap();
    let (va, _) = db.publish_component_version(&a.id, &version("crm", "1.0.0", &[1]), T0).await.unwrap();
    // The same key in another organization is another component.
    let (vb, created) = db.publish_component_version(&b.id, &version("crm", "1.0.0", &[2]), T0).await.unwrap();
    assert!(created);
    assert_ne!(va.component_id, vb.component_id);
    assert!(db.get_component(&b.id, &va.component_id).await.unwrap().is_none());
    let (_, bytes) = db.component_version_by_key(&b.id, "crm", "1.0.0", true).await.unwrap().unwrap();
    assert_eq!(bytes.as_deref(), Some(&[2u8][..]), "organization b reads its own crm, never a's");
    assert!(db.latest_component_versions(&b.id).await.unwrap().iter().all(|(_, v)| v.component_id == vb.component_id));
    assert!(db.list_component_versions(&b.id, &va.component_id).await.unwrap().is_empty());
    let page = Page { cursor: None, limit: 10 };
    let listed = db.list_components(&a.id, &page).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].id, va.component_id);
}
