//! `ImageStore::prepare`: resolution, verification, caching and concurrency.

use std::time::Instant;

use serde_json::json;

use super::builder::{config_for, descriptor, Blob, Layer};
use super::{assert_error, world};
use crate::error::ErrorKind;
use crate::images::config::host_architecture;
use crate::images::digest::Digest;

fn small_layer(content: &str) -> Blob {
    Layer::new().dir("etc", 0o755).file("etc/which", content, 0o644).gzip()
}

#[test]
fn corrupt_blobs_are_refused_naming_the_blob() {
    let w = world();
    let mut oci = w.layout("corrupt");
    let layer = small_layer("a");
    let config = serde_json::to_vec(&config_for(std::slice::from_ref(&layer))).unwrap();
    let manifest =
        oci.manifest(std::slice::from_ref(&layer), &config_for(std::slice::from_ref(&layer)));
    oci.add(Some("t"), "application/vnd.oci.image.manifest.v1+json", &manifest);
    let reference = oci.reference("t");
    let layer_digest = Digest::of(&layer.bytes).to_string();

    // Same size, one byte changed: the digest catches it.
    let mut bad = layer.bytes.clone();
    *bad.last_mut().unwrap() ^= 0xff;
    std::fs::write(oci.blob_path(&layer.bytes), &bad).unwrap();
    let err = w.store.prepare(&reference).unwrap_err();
    assert_error(&err, ErrorKind::Image, &[&layer_digest, "does not match its digest", &reference]);

    // A byte more: the size catches it before any byte is used.
    bad.push(0);
    std::fs::write(oci.blob_path(&layer.bytes), &bad).unwrap();
    let err = w.store.prepare(&reference).unwrap_err();
    assert_error(&err, ErrorKind::Image, &[&layer_digest, "its descriptor says"]);

    std::fs::remove_file(oci.blob_path(&layer.bytes)).unwrap();
    let err = w.store.prepare(&reference).unwrap_err();
    assert_error(&err, ErrorKind::Image, &[&layer_digest, "missing from the layout"]);
    std::fs::write(oci.blob_path(&layer.bytes), &layer.bytes).unwrap();

    // The manifest is read from the layout on every prepare (tags move); the config only
    // until a verified copy is in the blob store, so it is corrupted in a fresh home.
    let fresh = world();
    for (w, blob) in [(&w, &manifest), (&fresh, &config)] {
        let original = std::fs::read(oci.blob_path(blob)).unwrap();
        let mut bad = original.clone();
        bad[0] = b' ';
        std::fs::write(oci.blob_path(blob), &bad).unwrap();
        let err = w.store.prepare(&reference).unwrap_err();
        assert_error(&err, ErrorKind::Image, &[&Digest::of(blob).to_string(), "does not match"]);
        std::fs::write(oci.blob_path(blob), &original).unwrap();
        assert_eq!(w.rootfs_entries(), Vec::<String>::new());
    }
    assert_eq!(w.tmp_entries(), Vec::<String>::new());
    // Repaired, it works.
    w.store.prepare(&reference).unwrap();
}

#[test]
fn tags_resolve_or_list_what_is_available() {
    let w = world();
    let mut oci = w.layout("tags");
    let a = oci.image(Some("a"), &[small_layer("a")]);
    let b = oci.image(Some("b"), &[small_layer("b")]);
    assert_eq!(w.store.prepare(&oci.reference("a")).unwrap().digest, a);
    assert_eq!(w.store.prepare(&oci.reference("b")).unwrap().digest, b);

    let err = w.store.prepare(&oci.reference("nope")).unwrap_err();
    assert_error(&err, ErrorKind::NotFound, &["tag \"nope\" not found", "tags available: a, b"]);
    let untagged = format!("oci:{}", oci.dir.display());
    let err = w.store.prepare(&untagged).unwrap_err();
    assert_error(&err, ErrorKind::NotFound, &["no tag given", "none tagged \"latest\"", "a, b"]);

    let latest = oci.image(Some("latest"), &[small_layer("latest")]);
    assert_eq!(w.store.prepare(&untagged).unwrap().digest, latest);

    let mut single = w.layout("single");
    let only = single.image(None, &[small_layer("only")]);
    assert_eq!(w.store.prepare(&format!("oci:{}", single.dir.display())).unwrap().digest, only);
    let err = w.store.prepare(&single.reference("x")).unwrap_err();
    assert_error(&err, ErrorKind::NotFound, &["tags available: none"]);
}

#[test]
fn a_moved_tag_is_followed_on_the_next_prepare() {
    let w = world();
    let mut oci = w.layout("moving");
    let first = oci.image(Some("t"), &[small_layer("first")]);
    let prepared = w.store.prepare(&oci.reference("t")).unwrap();
    assert_eq!(prepared.digest, first);
    oci.index.clear();
    let second = oci.image(Some("t"), &[small_layer("second")]);
    let prepared = w.store.prepare(&oci.reference("t")).unwrap();
    assert_eq!(prepared.digest, second);
    assert_eq!(std::fs::read(prepared.rootfs.join("etc/which")).unwrap(), b"second");
}

#[test]
fn bad_references_and_layouts() {
    let w = world();
    for reference in ["Alpine", "alpine:", "oci:"] {
        let err = w.store.prepare(reference).unwrap_err();
        assert_error(&err, ErrorKind::InvalidArgument, &[reference]);
    }
    let missing = w.work.join("missing");
    let err = w.store.prepare(&format!("oci:{}:t", missing.display())).unwrap_err();
    assert_error(&err, ErrorKind::NotFound, &[&missing.display().to_string(), "does not exist"]);

    let plain_dir = w.work.join("plain");
    std::fs::create_dir(&plain_dir).unwrap();
    let err = w.store.prepare(&format!("oci:{}", plain_dir.display())).unwrap_err();
    assert_error(&err, ErrorKind::Image, &["not an OCI image layout"]);

    let mut oci = w.layout("artifact");
    let config = br#"{"kind":"helm chart"}"#;
    oci.put(config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.cncf.helm.config.v1+json", config),
        "layers": [],
    }))
    .unwrap();
    oci.add(Some("chart"), "application/vnd.oci.image.manifest.v1+json", &manifest);
    let err = w.store.prepare(&oci.reference("chart")).unwrap_err();
    assert_error(&err, ErrorKind::Image, &["not a container image", "helm"]);

    let layer = Layer::new().file("x", "", 0o644).gzip();
    let odd = Blob { media_type: "application/vnd.example.blob".into(), ..layer };
    oci.image(Some("odd"), &[odd]);
    let err = w.store.prepare(&oci.reference("odd")).unwrap_err();
    assert_error(&err, ErrorKind::Image, &["layer 1/1", "not a filesystem layer"]);
}

#[test]
fn a_relative_layout_path_is_relative_to_the_cwd() {
    let w = world();
    let mut oci = w.layout("relative");
    let digest = oci.image(Some("t"), &[small_layer("rel")]);
    let cwd = std::env::current_dir().unwrap();
    let ups = "../".repeat(cwd.components().count() - 1);
    let relative = format!("oci:{ups}{}:t", oci.dir.strip_prefix("/").unwrap().display());
    assert_eq!(w.store.prepare(&relative).unwrap().digest, digest);
}

#[test]
fn a_cached_prepare_does_not_unpack_again() {
    let w = world();
    let mut oci = w.layout("cache");
    let mut layer = Layer::new().dir("usr", 0o755);
    for i in 0..500 {
        layer = layer.file(&format!("usr/f{i}"), &"x".repeat(1000), 0o644);
    }
    let digest = oci.image(Some("t"), &[layer.gzip()]);
    let reference = oci.reference("t");
    let started = Instant::now();
    let cold = w.store.prepare(&reference).unwrap();
    let cold_time = started.elapsed();
    std::fs::write(cold.rootfs.join("marker"), "kept").unwrap();

    let started = Instant::now();
    let runs = 100;
    for _ in 0..runs {
        let warm = w.store.prepare(&reference).unwrap();
        assert_eq!(warm, cold);
    }
    let warm_time = started.elapsed() / runs;
    eprintln!("prepare of 500 files: cold {cold_time:?}, cached {warm_time:?}");
    assert!(cold.rootfs.join("marker").exists());

    // The record lost: rewritten from the layout, the rootfs kept.
    let record = w.home.root().join("images/rootfs").join(format!("{}.json", &digest[7..]));
    std::fs::remove_file(&record).unwrap();
    assert_eq!(w.store.prepare(&reference).unwrap(), cold);
    assert!(record.exists());
    assert!(cold.rootfs.join("marker").exists());

    // Stale staging from a dead process is cleared by the next unpack of that digest.
    let stale = w.home.tmp_dir().join(format!("image-{}-999999-0", &digest[7..]));
    std::fs::create_dir(&stale).unwrap();
    std::os::unix::fs::symlink("/", stale.join("root")).unwrap();
    std::fs::remove_dir_all(&cold.rootfs).unwrap();
    let again = w.store.prepare(&reference).unwrap();
    assert!(!again.rootfs.join("marker").exists());
    assert_eq!(w.tmp_entries(), Vec::<String>::new());
}

#[test]
fn concurrent_prepares_share_one_rootfs() {
    let w = world();
    let mut oci = w.layout("concurrent");
    let mut layer = Layer::new();
    for i in 0..2000 {
        layer = layer.file(&format!("f{i}"), "content", 0o644);
    }
    let digest = oci.image(Some("t"), &[layer.gzip()]);
    let reference = oci.reference("t");
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..4).map(|_| s.spawn(|| w.store.prepare(&reference).unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for prepared in &results {
        assert_eq!(prepared, &results[0]);
    }
    let hex = &digest[7..];
    assert_eq!(w.rootfs_entries(), [hex.to_owned(), format!("{hex}.json")]);
    assert_eq!(super::names(&results[0].rootfs).len(), 2000);
    assert_eq!(w.tmp_entries(), Vec::<String>::new());
}

#[test]
fn multi_arch_indexes_pick_this_host() {
    let w = world();
    let mut oci = w.layout("multi");
    let foreign_layer = small_layer("s390x");
    let mut foreign_config = config_for(std::slice::from_ref(&foreign_layer));
    foreign_config["architecture"] = json!("s390x");
    let foreign = oci.manifest(&[foreign_layer], &foreign_config);
    let native_layer = small_layer("native");
    let native = oci.manifest(
        std::slice::from_ref(&native_layer),
        &config_for(std::slice::from_ref(&native_layer)),
    );
    let platform = |arch: &str| json!({"os": "linux", "architecture": arch});
    let mut entries = vec![
        descriptor("application/vnd.oci.image.manifest.v1+json", &foreign),
        descriptor("application/vnd.oci.image.manifest.v1+json", &native),
    ];
    entries[0]["platform"] = platform("s390x");
    entries[1]["platform"] = platform(host_architecture());
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    }))
    .unwrap();
    oci.add(Some("multi"), "application/vnd.oci.image.index.v1+json", &index);
    let prepared = w.store.prepare(&oci.reference("multi")).unwrap();
    assert_eq!(prepared.digest, Digest::of(&native).to_string());
    assert_eq!(std::fs::read(prepared.rootfs.join("etc/which")).unwrap(), b"native");

    // An index with nothing for this host says what it has.
    let only_foreign = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [entries[0].clone()],
    }))
    .unwrap();
    oci.add(Some("foreign"), "application/vnd.oci.image.index.v1+json", &only_foreign);
    let err = w.store.prepare(&oci.reference("foreign")).unwrap_err();
    assert_error(&err, ErrorKind::Image, &["no manifest for linux/", "linux/s390x"]);
}

#[test]
fn docker_v2s2_media_types_and_untyped_descriptors() {
    let w = world();
    let mut oci = w.layout("docker");
    let layer = small_layer("docker");
    let config = serde_json::to_vec(&config_for(std::slice::from_ref(&layer))).unwrap();
    oci.put(&config);
    oci.put(&layer.bytes);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": descriptor("application/vnd.docker.container.image.v1+json", &config),
        "layers": [descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", &layer.bytes)],
    }))
    .unwrap();
    oci.add(Some("v2s2"), "application/vnd.docker.distribution.manifest.v2+json", &manifest);
    let prepared = w.store.prepare(&oci.reference("v2s2")).unwrap();
    assert_eq!(std::fs::read(prepared.rootfs.join("etc/which")).unwrap(), b"docker");
    assert_eq!(prepared.config.cmd, Some(vec!["--flag".to_owned()]));

    // An index entry without a media type: the blob says what it is.
    let mut untyped = w.layout("untyped");
    let layer = small_layer("untyped");
    let manifest =
        untyped.manifest(std::slice::from_ref(&layer), &config_for(std::slice::from_ref(&layer)));
    untyped.add(Some("t"), "", &manifest);
    untyped.index[0].as_object_mut().unwrap().remove("mediaType");
    untyped.write_index();
    let prepared = w.store.prepare(&untyped.reference("t")).unwrap();
    assert_eq!(std::fs::read(prepared.rootfs.join("etc/which")).unwrap(), b"untyped");
}
