//! Hostile safetensors files and checkpoint folders: clean errors naming the problem.

use herd_llama::safetensors_dir::{SafetensorsDir, parse_header};

fn file(header: &str, data: usize) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend(std::iter::repeat_n(0u8, data));
    b
}

#[test]
fn valid_header_parses() {
    let h = r#"{"w":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]}}"#;
    let e = parse_header(&file(h, 12)).expect("valid");
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].1.start, e[0].1.end), (8 + h.len(), 8 + h.len() + 12));
}

#[test]
fn every_truncation_is_an_error() {
    let b = file(r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, 16);
    for n in 0..b.len() {
        assert!(parse_header(&b[..n]).is_err(), "cut at {n} accepted");
    }
}

#[test]
fn lies_about_sizes_are_errors() {
    for h in [
        r#"{"w":{"dtype":"F32","shape":[5],"data_offsets":[0,16]}}"#,
        r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,1000]}}"#,
        r#"{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#,
        r#"{"w":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#,
        r#"not json at all"#,
    ] {
        assert!(parse_header(&file(h, 16)).is_err(), "{h} accepted");
    }
    let mut b = file("{}", 0);
    b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(parse_header(&b).is_err());
}

#[test]
fn index_pointing_outside_the_folder_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("model.safetensors.index.json"), r#"{"weight_map":{"w":"../../etc/passwd"}}"#)
        .expect("write");
    let e = SafetensorsDir::open(dir.path()).expect_err("must refuse").to_string();
    assert!(e.contains("not a plain file name"), "{e}");
}

#[test]
fn folder_without_weights_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = SafetensorsDir::open(dir.path()).expect_err("empty").to_string();
    assert!(e.contains("no *.safetensors"), "{e}");
}
