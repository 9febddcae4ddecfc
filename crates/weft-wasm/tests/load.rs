//! Loading components: the good ones describe themselves, everything else is refused with a
//! message saying what is wrong; the compiled-component cache hits, and recompiles corrupt
//! entries.

mod common;

use common::{guests, host_with, run};
use serde_json::json;
use weft_model::InputType;
use weft_wasm::{Description, Limits, LoadOutcome, WasmError, WasmHostConfig};

#[tokio::test]
async fn good_components_describe_themselves() {
    let host = host_with(WasmHostConfig::default());
    let transform = host.load(&guests().transform).await.expect("transform loads");
    let info = transform.info();
    assert_eq!((info.key.as_str(), info.version.as_str()), ("transform", "0.1.0"));
    let keys: Vec<&str> = info.actions.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["flatten", "pick", "group_by"]);
    let sep = info.actions[0].inputs.iter().find(|i| i.key == "separator").unwrap();
    assert_eq!(sep.default.as_deref(), Some("\".\""));

    let (out, _) = run(&transform, "flatten", json!({"value": {"a": {"b": [1, 2]}}}), &Limits::default()).await;
    assert_eq!(out.unwrap(), json!({"a.b.0": 1, "a.b.1": 2}));

    let hostile = host.load(&guests().hostile).await.expect("hostile loads");
    assert_eq!(hostile.info().actions.len(), 12);

    // As stored and validated against: JSON that round-trips, actions under `<key>.<action>`
    // with the JSON type of each input.
    let d = Description::from_info(transform.info());
    let stored: Description = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
    assert_eq!(stored, d);
    assert_eq!(serde_json::to_value(&d).unwrap()["actions"][0]["inputs"][1]["default"], json!("."));
    let specs = d.operation_specs();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["transform.flatten", "transform.pick", "transform.group_by"]);
    let sep = specs[0].input("separator").unwrap();
    assert_eq!((&sep.input_type, sep.required), (&InputType::String, false));
    assert_eq!(specs[0].input("value").unwrap().input_type, InputType::Any);
    let alloc =
        Description::from_info(hostile.info()).operation_specs().into_iter().find(|s| s.name == "hostile.alloc");
    let mib = alloc.unwrap().inputs.remove(0);
    assert_eq!((mib.key.as_str(), mib.input_type, mib.required), ("mib", InputType::Number, true));
}

#[tokio::test]
async fn a_core_module_is_refused() {
    let host = host_with(WasmHostConfig::default());
    // The smallest valid core module: magic number and version 1.
    let err = host.load(b"\0asm\x01\0\0\0").await.unwrap_err();
    assert!(matches!(err, WasmError::CoreModule), "{err:?}");
    assert!(err.to_string().contains("a core WebAssembly module, not a component"), "{err}");
    assert!(err.to_string().contains("--target wasm32-wasip2"), "{err}");
}

#[tokio::test]
async fn garbage_is_refused() {
    let host = host_with(WasmHostConfig::default());
    let noise: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let err = host.load(&noise).await.unwrap_err();
    assert!(err.to_string().contains("do not start with the WebAssembly magic number"), "{err}");
    let err = host.load(b"").await.unwrap_err();
    assert!(matches!(err, WasmError::NotWasm(_)), "{err:?}");
    // A component header followed by garbage: wasmtime's validation says why.
    let mut bad = b"\0asm\x0d\0\x01\0".to_vec();
    bad.extend_from_slice(&noise[..64]);
    let err = host.load(&bad).await.unwrap_err();
    assert!(matches!(err, WasmError::Compile(_)), "{err:?}");
    assert!(err.to_string().starts_with("the component could not be compiled: "), "{err}");
}

#[tokio::test]
async fn a_component_of_another_world_is_refused() {
    let host = host_with(WasmHostConfig::default());
    // A plain `fn main` built for wasm32-wasip2: a wasi:cli/command component.
    let err = host.load(&guests().not_weft).await.unwrap_err();
    assert!(matches!(err, WasmError::WrongWorld(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("does not implement the Weft world weft:component/component@0.1.0"), "{msg}");
    assert!(msg.contains("weft:component/guest@0.1.0"), "the message names the missing export: {msg}");
}

#[tokio::test]
async fn the_disk_cache_hits_and_recompiles_corrupt_entries() {
    let dir = tempfile::tempdir().unwrap();
    let config = WasmHostConfig { cache_dir: Some(dir.path().to_path_buf()), ..WasmHostConfig::default() };
    let bytes = &guests().hostile;

    let first = host_with(config.clone());
    let c = first.load(bytes).await.unwrap();
    assert_eq!(c.load_outcome(), LoadOutcome::CacheMiss);
    let entry = first.cache_entry(bytes).unwrap();
    assert!(entry.exists(), "{} written", entry.display());

    // A new host (a restarted node) finds the artifact.
    let second = host_with(config.clone());
    let c = second.load(bytes).await.unwrap();
    assert_eq!(c.load_outcome(), LoadOutcome::CacheHit);
    assert_eq!(second.cache_stats().hits, 1);
    let (out, _) = run(&c, "echo", json!({"x": 1}), &Limits::default()).await;
    assert_eq!(out.unwrap(), json!({"x": 1}));

    // Flip bytes in the middle of the artifact: recompiled, never loaded.
    let mut file = std::fs::read(&entry).unwrap();
    let mid = file.len() / 2;
    for b in &mut file[mid..mid + 64] {
        *b ^= 0xa5;
    }
    std::fs::write(&entry, &file).unwrap();
    let third = host_with(config.clone());
    let c = third.load(bytes).await.unwrap();
    assert_eq!(c.load_outcome(), LoadOutcome::Recompiled);
    assert_eq!(third.cache_stats().recompiled, 1);
    let (out, _) = run(&c, "echo", json!({"y": 2}), &Limits::default()).await;
    assert_eq!(out.unwrap(), json!({"y": 2}));

    // The entry was rewritten: the next host hits again. A truncated file is recompiled too.
    let fourth = host_with(config.clone());
    assert_eq!(fourth.load(bytes).await.unwrap().load_outcome(), LoadOutcome::CacheHit);
    std::fs::write(&entry, &std::fs::read(&entry).unwrap()[..100]).unwrap();
    let fifth = host_with(config);
    assert_eq!(fifth.load(bytes).await.unwrap().load_outcome(), LoadOutcome::Recompiled);
}

#[tokio::test]
async fn an_invalid_description_is_refused_naming_every_problem() {
    let host = host_with(WasmHostConfig::default());
    let err = host.load(&guests().bad_describe).await.unwrap_err();
    let WasmError::InvalidDescription(problems) = &err else { panic!("{err:?}") };
    let expected = [
        "actions: key 'sync' is used more than once",
        "action 'List Contacts': key 'List Contacts' is not well-formed",
        "action 'sync' input 'mode': a picklist needs choices or a data source",
        "action 'sync' input 'limit': default \"ten\" does not fit type number",
        "action 'sync' input 'list': data source 'lists' is not one of the component's data sources",
    ];
    for e in expected {
        assert!(problems.iter().any(|p| p.starts_with(e)), "missing {e:?} in {problems:#?}");
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    assert!(err.to_string().starts_with("the component's description is invalid: "), "{err}");
}

/// `sdk/prebuilt/` stands in for the sources on machines without the `wasm32-wasip2` target, so
/// it must be exactly what the sources build to (builds are reproducible with one toolchain).
#[test]
fn prebuilt_components_are_current() {
    let g = guests();
    if !g.from_source {
        eprintln!("skipped: the wasm32-wasip2 target is not installed, so the prebuilt components cannot be checked");
        return;
    }
    let fresh = [&g.hostile, &g.transform, &g.crm, &g.not_weft, &g.bad_describe];
    let mut stale = Vec::new();
    for (name, bytes) in common::GUEST_FILES.iter().zip(fresh) {
        let committed = std::fs::read(common::prebuilt_dir().join(name)).unwrap_or_default();
        if &committed != bytes {
            stale.push(*name);
        }
    }
    assert!(
        stale.is_empty(),
        "sdk/prebuilt/ is stale ({stale:?}): run scripts/prebuild-components and commit the result"
    );
}
