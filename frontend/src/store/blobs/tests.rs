use super::*;
use sha2::Sha256;

fn digest_of(bytes: &[u8]) -> Digest {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Digest::parse(&format!("sha256:{hex}")).unwrap()
}

fn store() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    (dir, store)
}

fn ingest(store: &BlobStore, digest: &Digest, size: Option<u64>) -> Ingest {
    store
        .ingest(digest, size)
        .unwrap()
        .expect("not in the store yet")
}

#[test]
fn a_verified_blob_lands_under_its_digest() {
    let (_dir, store) = store();
    let data = b"hello layer".repeat(10_000);
    let digest = digest_of(&data);
    let mut w = ingest(&store, &digest, Some(data.len() as u64));
    for chunk in data.chunks(7_000) {
        w.write(chunk).unwrap();
    }
    let path = w.commit().unwrap();
    assert_eq!(path, store.path(&digest));
    assert_eq!(fs::read(&path).unwrap(), data);
    assert!(store.has(&digest));
    assert!(store.ingest(&digest, None).unwrap().is_none());
    assert!(store.remove(&digest).unwrap());
    assert!(!store.remove(&digest).unwrap());
}

#[test]
fn an_interrupted_ingest_resumes_from_its_bytes() {
    let (_dir, store) = store();
    let data = b"0123456789".repeat(1000);
    let digest = digest_of(&data);
    let mut first = ingest(&store, &digest, Some(data.len() as u64));
    first.write(&data[..4000]).unwrap();
    drop(first); // the pull was cut short
    assert!(!store.has(&digest), "half a blob is never under its digest");
    let mut second = ingest(&store, &digest, Some(data.len() as u64));
    assert_eq!(second.offset(), 4000);
    second.write(&data[4000..]).unwrap();
    second.commit().unwrap();
    assert_eq!(fs::read(store.path(&digest)).unwrap(), data);
}

#[test]
fn wrong_bytes_are_refused_and_thrown_away() {
    let (_dir, store) = store();
    let data = b"the real content";
    let digest = digest_of(data);

    let mut w = ingest(&store, &digest, Some(data.len() as u64));
    w.write(b"the fake content").unwrap();
    let err = w.commit().unwrap_err().to_string();
    assert!(
        err.contains(&digest.to_string()) && err.contains("hashes to"),
        "{err}"
    );
    assert!(!store.has(&digest));
    assert_eq!(
        ingest(&store, &digest, None).offset(),
        0,
        "bad bytes are not resumed"
    );

    let mut w = ingest(&store, &digest, Some(4));
    let err = w.write(data).unwrap_err().to_string();
    assert!(err.contains("more than the 4 bytes"), "{err}");
    drop(w); // its lock: the next ingest of the same blob would wait for it

    let mut w = ingest(&store, &digest, Some(100));
    w.write(data).unwrap();
    let err = w.commit().unwrap_err().to_string();
    assert!(err.contains("16 bytes, its descriptor gives 100"), "{err}");
    assert!(!store.has(&digest));
}

#[test]
fn a_partial_longer_than_the_blob_starts_over() {
    let (_dir, store) = store();
    let data = b"short";
    let digest = digest_of(data);
    let mut w = ingest(&store, &digest, None);
    w.write(b"far more bytes than the blob has").unwrap();
    drop(w);
    let mut w = ingest(&store, &digest, Some(data.len() as u64));
    assert_eq!(w.offset(), 0);
    w.write(data).unwrap();
    w.commit().unwrap();
    assert_eq!(fs::read(store.path(&digest)).unwrap(), data);
}

#[test]
fn a_second_writer_waits_and_then_finds_the_blob_there() {
    let (_dir, store) = store();
    let data = b"shared layer".repeat(100);
    let digest = digest_of(&data);
    let mut first = ingest(&store, &digest, Some(data.len() as u64));
    first.write(&data[..10]).unwrap();
    let (store2, digest2) = (store.clone(), digest.clone());
    let second = std::thread::spawn(move || store2.ingest(&digest2, None).map(|i| i.is_none()));
    std::thread::sleep(std::time::Duration::from_millis(100));
    first.write(&data[10..]).unwrap();
    first.commit().unwrap();
    assert!(
        second.join().unwrap().unwrap(),
        "the second writer saw the finished blob"
    );
    assert_eq!(fs::read(store.path(&digest)).unwrap(), data);
}

#[test]
fn a_restarted_ingest_forgets_its_bytes_and_a_discarded_one_leaves_nothing() {
    let (_dir, store) = store();
    let data = b"restart me".repeat(100);
    let digest = digest_of(&data);
    let mut w = ingest(&store, &digest, Some(data.len() as u64));
    w.write(b"not these bytes").unwrap();
    w.restart().unwrap();
    assert_eq!(w.offset(), 0);
    w.write(&data).unwrap();
    w.commit().unwrap();
    assert!(store.has(&digest));

    let other = digest_of(b"other");
    let mut w = ingest(&store, &other, Some(5));
    w.write(b"oth").unwrap();
    w.discard().unwrap();
    assert!(!store.has(&other));
    let w = ingest(&store, &other, Some(5));
    assert_eq!(w.offset(), 0, "the discarded bytes are gone");
}
