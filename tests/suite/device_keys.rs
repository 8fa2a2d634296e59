//! Several devices per account: device A, holding the keyring, enrolls
//! device B by its X25519 public key; B opens the keyring sealed to it
//! (HPKE) and gets the same keys; both add messages and search, over HTTP
//! and in process, and agree. A tampered, moved or replayed sealed
//! keyring, a tampered directory and a bad device key file are refused
//! with clear errors and overwrite nothing; a revoked device can no longer
//! open its keyring; after a new key version, `publish_keyring` reaches
//! every remaining device.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::sync::Arc;

use sseek::client::Client;
use sseek::client::devices::{self, DIRECTORY_INSTANCE, slot_instance};
use sseek::datasets::Synthetic;
use sseek::keys::Keyring;
use sseek::keys::device::{DeviceKeyPair, Fingerprint};
use sseek::query::Query;
use sseek::server::Server;
use sseek::store::keyspace::client_state_key;
use sseek::store::{MemoryStore, Store, Table, WriteBatch};
use sseek::text::Tokenizer;
use sseek::transport::{Http, InProcess, Transport};
use sseek::{Error, Result};

const TENANT: &str = "acct";

/// Keys by version, as key ids: two keyrings with the same are the same.
fn key_ids(ring: &Keyring) -> Vec<(u32, String)> {
    ring.versions().into_iter().map(|v| (v, ring.get(v).unwrap().key_id().to_string())).collect()
}

/// A enrolls B, B opens its keyring, both add messages and search.
fn enroll_open_and_search<T: Transport>(transport: impl Fn() -> T) {
    let t = transport();
    let keyring = Keyring::generate().unwrap();
    let b = DeviceKeyPair::generate().unwrap();
    let entry = devices::enroll(&keyring, TENANT, &t, "laptop", b.public_key()).unwrap();
    assert_eq!((entry.fingerprint, entry.name.as_str()), (b.fingerprint(), "laptop"));
    let ring_b = devices::open_keyring(&b, TENANT, &t).unwrap();
    assert_eq!(key_ids(&ring_b), key_ids(&keyring));
    assert_eq!(ring_b.current_version(), keyring.current_version());

    let msgs = Synthetic::new(5).generate(60);
    let mut a = Client::connect_keyring(&keyring, TENANT, transport(), Tokenizer::default()).unwrap();
    let terms = a.terms(&msgs);
    common::create_planned_schema(&mut a, &terms, 4.0);
    a.add_messages(&msgs[..30], None).unwrap();
    let mut bc = Client::connect_keyring(&ring_b, TENANT, transport(), Tokenizer::default()).unwrap();
    bc.add_messages(&msgs[30..], None).unwrap();
    let mut hits = 0;
    for m in msgs.iter().step_by(7) {
        let q = format!("from:{}", m.from);
        let qa = Query::parse(&q, a.specs(), a.tokenizer()).unwrap();
        let qb = Query::parse(&q, bc.specs(), bc.tokenizer()).unwrap();
        let (ra, rb) = (a.search(&qa).unwrap(), bc.search(&qb).unwrap());
        assert_eq!(ra.ids, rb.ids, "{q}");
        assert_eq!(ra.messages, rb.messages, "{q}");
        let expected: Vec<u32> = (0u32..).zip(&msgs).filter(|(_, x)| x.from == m.from).map(|(i, _)| i).collect();
        assert_eq!(ra.ids, expected, "{q}");
        hits += ra.ids.len();
    }
    assert!(hits >= 9, "searched only {hits} results");
}

#[test]
fn a_device_enrolled_by_public_key_opens_the_same_keyring_and_both_agree_in_process() {
    let server = Arc::new(Server::new(MemoryStore::new()));
    enroll_open_and_search(|| InProcess::new(Arc::clone(&server), TENANT));
}

#[test]
fn a_device_enrolled_by_public_key_opens_the_same_keyring_and_both_agree_over_http() {
    let (_dir, served, tokens) = common::served::Served::on_redb(&[TENANT], &[]);
    enroll_open_and_search(|| Http::new(&served.url, &tokens[0]));
}

/// The stored value of an instance: version (8 bytes, BE) and sealed bytes.
fn stored(server: &Server<MemoryStore>, instance: &str) -> Option<Vec<u8>> {
    server.store().get(Table::Meta, &client_state_key(TENANT, instance)).unwrap()
}

fn put_raw(server: &Server<MemoryStore>, instance: &str, value: Vec<u8>) {
    let mut b = WriteBatch::new();
    b.put(Table::Meta, client_state_key(TENANT, instance), value);
    server.store().write(b).unwrap();
}

fn version_of(value: &[u8]) -> u64 {
    u64::from_be_bytes(value[..8].try_into().unwrap())
}

fn expect_state_error<T: std::fmt::Debug>(outcome: Result<T>, what: &str, needle: &str) {
    match outcome {
        Err(Error::StateFile { reason, .. }) => assert!(reason.contains(needle), "{what}: {reason}"),
        other => panic!("{what}: expected a state error, got {other:?}"),
    }
}

struct Account {
    server: Arc<Server<MemoryStore>>,
    keyring: Keyring,
    b: DeviceKeyPair,
    c: DeviceKeyPair,
}

impl Account {
    fn new() -> Self {
        let server = Arc::new(Server::new(MemoryStore::new()));
        let keyring = Keyring::generate().unwrap();
        let (b, c) = (DeviceKeyPair::generate().unwrap(), DeviceKeyPair::generate().unwrap());
        let a = Account { server, keyring, b, c };
        devices::enroll(&a.keyring, TENANT, &a.t(), "b", a.b.public_key()).unwrap();
        devices::enroll(&a.keyring, TENANT, &a.t(), "c", a.c.public_key()).unwrap();
        a
    }

    fn t(&self) -> InProcess<MemoryStore> {
        InProcess::new(Arc::clone(&self.server), TENANT)
    }

    fn slot(&self, device: &DeviceKeyPair) -> String {
        slot_instance(&device.fingerprint())
    }
}

#[test]
fn a_tampered_sealed_keyring_is_refused_and_overwrites_nothing() {
    let acct = Account::new();
    let slot = acct.slot(&acct.b);
    let good = stored(&acct.server, &slot).unwrap();
    for at in [8 + 8, 8 + 8 + 32 + 3, good.len() - 1] {
        let mut flipped = good.clone();
        flipped[at] ^= 1;
        put_raw(&acct.server, &slot, flipped.clone());
        let outcome = devices::open_keyring(&acct.b, TENANT, &acct.t());
        expect_state_error(outcome, &format!("flip at {at}"), "does not open as version 1 for this device");
        assert_eq!(stored(&acct.server, &slot).unwrap(), flipped, "a refused keyring was overwritten");
    }
    put_raw(&acct.server, &slot, good[..30].to_vec());
    expect_state_error(devices::open_keyring(&acct.b, TENANT, &acct.t()), "truncated", "truncated");
}

#[test]
fn a_keyring_sealed_to_another_device_is_refused() {
    let acct = Account::new();
    let (slot_b, slot_c) = (acct.slot(&acct.b), acct.slot(&acct.c));
    // B's blob copied into C's slot, at the version C's slot has (both 1).
    let b_blob = stored(&acct.server, &slot_b).unwrap();
    assert_eq!(version_of(&b_blob), version_of(&stored(&acct.server, &slot_c).unwrap()));
    put_raw(&acct.server, &slot_c, b_blob.clone());
    expect_state_error(devices::open_keyring(&acct.c, TENANT, &acct.t()), "moved", "sealed to another device");
    assert_eq!(stored(&acct.server, &slot_c).unwrap(), b_blob);
    // And B still opens its own.
    assert!(devices::open_keyring(&acct.b, TENANT, &acct.t()).is_ok());
}

#[test]
fn a_replayed_older_sealed_keyring_is_refused() {
    let mut acct = Account::new();
    let slot = acct.slot(&acct.b);
    let v1 = stored(&acct.server, &slot).unwrap();
    acct.keyring.add_version().unwrap();
    devices::publish_keyring(&acct.keyring, TENANT, &acct.t()).unwrap();
    let v2 = stored(&acct.server, &slot).unwrap();
    assert_eq!(version_of(&v2), 2);
    // Version 1's bytes presented as version 2: the older keyring is refused.
    let replayed = [&2u64.to_be_bytes()[..], &v1[8..]].concat();
    put_raw(&acct.server, &slot, replayed.clone());
    expect_state_error(devices::open_keyring(&acct.b, TENANT, &acct.t()), "replayed", "older version replayed");
    assert_eq!(stored(&acct.server, &slot).unwrap(), replayed);
    put_raw(&acct.server, &slot, v2);
    assert_eq!(devices::open_keyring(&acct.b, TENANT, &acct.t()).unwrap().current_version(), 2);
}

#[test]
fn a_tampered_or_replayed_directory_is_refused_and_overwrites_nothing() {
    let acct = Account::new();
    let good = stored(&acct.server, DIRECTORY_INSTANCE).unwrap();
    assert_eq!(version_of(&good), 2, "two enrollments");
    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 1;
    put_raw(&acct.server, DIRECTORY_INSTANCE, flipped.clone());
    expect_state_error(devices::list(&acct.keyring, TENANT, &acct.t()), "tampered", "does not open as version 2");
    let extra = DeviceKeyPair::generate().unwrap();
    let enroll = devices::enroll(&acct.keyring, TENANT, &acct.t(), "x", extra.public_key());
    expect_state_error(enroll, "enroll over a tampered directory", "does not open");
    expect_state_error(devices::publish_keyring(&acct.keyring, TENANT, &acct.t()), "publish", "does not open");
    expect_state_error(devices::open_keyring(&acct.b, TENANT, &acct.t()), "open", "does not open");
    assert_eq!(stored(&acct.server, DIRECTORY_INSTANCE).unwrap(), flipped, "a refused directory was overwritten");
    assert_eq!(stored(&acct.server, &slot_instance(&extra.fingerprint())), None, "nothing sealed to the intruder");
    // The directory of version 2 relabelled as version 3.
    put_raw(&acct.server, DIRECTORY_INSTANCE, [&3u64.to_be_bytes()[..], &good[8..]].concat());
    expect_state_error(devices::list(&acct.keyring, TENANT, &acct.t()), "relabelled", "does not open as version 3");
    // Under another account's keyring it does not open either.
    put_raw(&acct.server, DIRECTORY_INSTANCE, good);
    let other = Keyring::generate().unwrap();
    expect_state_error(devices::list(&other, TENANT, &acct.t()), "another key", "does not open");
    assert_eq!(devices::list(&acct.keyring, TENANT, &acct.t()).unwrap().len(), 2);
}

#[test]
fn a_bad_device_key_file_is_refused_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.device");
    let pair = DeviceKeyPair::generate().unwrap();
    pair.save(&path).unwrap();
    let err = pair.save(&path).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert_eq!(DeviceKeyPair::load(&path).unwrap().public_key(), pair.public_key(), "not overwritten");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let bytes = std::fs::read(&path).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", bytes[..50].to_vec(), "truncated"),
        (
            "flipped",
            {
                let mut b = bytes.clone();
                b[20] ^= 1;
                b
            },
            "checksum mismatch",
        ),
        ("trailing", [&bytes[..], b"x"].concat(), "trailing data"),
        ("foreign", b"-----BEGIN PRIVATE KEY-----\n".to_vec(), "not an sseek device key file"),
        ("a keyring", Keyring::generate().unwrap().to_file_bytes().to_vec(), "not a device key file"),
        (
            "version",
            {
                let mut b = bytes.clone();
                b[9] = 9;
                b
            },
            "unsupported device key file version 9",
        ),
    ];
    for (what, content, needle) in cases {
        let p = dir.path().join(what);
        std::fs::write(&p, &content).unwrap();
        match DeviceKeyPair::load(&p) {
            Err(Error::KeyFile { reason, .. }) => assert!(reason.contains(needle), "{what}: {reason}"),
            other => panic!("{what}: expected a key file error, got {other:?}"),
        }
        assert_eq!(std::fs::read(&p).unwrap(), content, "{what}: the file was touched");
    }
}

#[test]
fn a_revoked_device_cannot_open_its_keyring_and_is_no_longer_listed() {
    let acct = Account::new();
    let revoked = devices::revoke(&acct.keyring, TENANT, &acct.t(), &acct.c.fingerprint()).unwrap();
    assert_eq!(revoked.public_key, acct.c.public_key());
    let slot = stored(&acct.server, &acct.slot(&acct.c)).unwrap();
    assert_eq!((version_of(&slot), slot.len()), (2, 8), "removal is an empty blob at the next version");
    match devices::open_keyring(&acct.c, TENANT, &acct.t()) {
        Err(Error::NotFound(m)) => assert!(m.contains("not enrolled, or revoked"), "{m}"),
        other => panic!("expected not found, got {other:?}"),
    }
    let listed = devices::list(&acct.keyring, TENANT, &acct.t()).unwrap();
    assert_eq!(listed.iter().map(|e| e.fingerprint).collect::<Vec<_>>(), vec![acct.b.fingerprint()]);
    // Twice: not enrolled.
    let again = devices::revoke(&acct.keyring, TENANT, &acct.t(), &acct.c.fingerprint());
    assert!(matches!(again, Err(Error::NotFound(_))), "{again:?}");
    // A blob the server kept (or put back) is refused: the directory no longer lists the device.
    let mut fresh = Account::new();
    let kept = stored(&fresh.server, &fresh.slot(&fresh.c)).unwrap();
    devices::revoke(&fresh.keyring, TENANT, &fresh.t(), &fresh.c.fingerprint()).unwrap();
    put_raw(&fresh.server, &fresh.slot(&fresh.c), kept);
    match devices::open_keyring(&fresh.c, TENANT, &fresh.t()) {
        Err(Error::NotFound(m)) => assert!(m.contains("revoked"), "{m}"),
        other => panic!("expected not found, got {other:?}"),
    }
    // Re-enrolling the revoked key works, and publishing never reaches a revoked one.
    fresh.keyring.add_version().unwrap();
    assert_eq!(devices::publish_keyring(&fresh.keyring, TENANT, &fresh.t()).unwrap(), 1);
    assert!(devices::open_keyring(&fresh.c, TENANT, &fresh.t()).is_err());
    devices::enroll(&fresh.keyring, TENANT, &fresh.t(), "c again", fresh.c.public_key()).unwrap();
    assert_eq!(devices::open_keyring(&fresh.c, TENANT, &fresh.t()).unwrap().current_version(), 2);
    let unknown = Fingerprint::parse("0000-0000-0000-0000").unwrap();
    assert!(matches!(devices::revoke(&fresh.keyring, TENANT, &fresh.t(), &unknown), Err(Error::NotFound(_))));
}

#[test]
fn publish_after_a_new_key_version_reaches_every_remaining_device() {
    let mut acct = Account::new();
    let d = DeviceKeyPair::generate().unwrap();
    devices::enroll(&acct.keyring, TENANT, &acct.t(), "d", d.public_key()).unwrap();
    devices::revoke(&acct.keyring, TENANT, &acct.t(), &acct.c.fingerprint()).unwrap();
    let v2 = acct.keyring.add_version().unwrap();
    // Before publishing, devices still get version 1 only.
    assert_eq!(devices::open_keyring(&acct.b, TENANT, &acct.t()).unwrap().versions(), vec![1]);
    assert_eq!(devices::publish_keyring(&acct.keyring, TENANT, &acct.t()).unwrap(), 2);
    for device in [&acct.b, &d] {
        let ring = devices::open_keyring(device, TENANT, &acct.t()).unwrap();
        assert_eq!(ring.current_version(), v2);
        assert_eq!(key_ids(&ring), key_ids(&acct.keyring));
    }
    // The directory is now sealed under version 2: a keyring of version 1 alone cannot read it.
    let dir = stored(&acct.server, DIRECTORY_INSTANCE).unwrap();
    assert_eq!(u32::from_be_bytes(dir[8..12].try_into().unwrap()), v2);
    let old = Keyring::from_keys(1, [(1, acct.keyring.get(1).unwrap().clone())]).unwrap();
    expect_state_error(devices::list(&old, TENANT, &acct.t()), "old keyring", "does not hold");
    // Once the old version is dropped, the directory still opens (it is under version 2).
    acct.keyring.remove_version(1).unwrap();
    assert_eq!(devices::list(&acct.keyring, TENANT, &acct.t()).unwrap().len(), 2);
    // The revoked device got nothing new.
    assert!(devices::open_keyring(&acct.c, TENANT, &acct.t()).is_err());
}

#[test]
fn enrollment_refuses_bad_names_repeats_and_low_order_keys() {
    let acct = Account::new();
    let t = acct.t();
    let e = devices::enroll(&acct.keyring, TENANT, &t, "b twice", acct.b.public_key());
    assert!(matches!(e, Err(Error::Conflict(ref m)) if m.contains("already enrolled")), "{e:?}");
    let x = DeviceKeyPair::generate().unwrap();
    for name in ["", "a\nb", &"n".repeat(65)] {
        assert!(matches!(devices::enroll(&acct.keyring, TENANT, &t, name, x.public_key()), Err(Error::Config(_))));
    }
    let zero = sseek::keys::device::DevicePublicKey([0; 32]);
    let e = devices::enroll(&acct.keyring, TENANT, &t, "zero", zero);
    assert!(matches!(e, Err(Error::Config(_))), "{e:?}");
    assert_eq!(devices::list(&acct.keyring, TENANT, &t).unwrap().len(), 2, "nothing added");
}

/// Eight devices enrolled at once from eight threads (each one a
/// compare-and-swap on the directory, retried when another won): every
/// one is listed and opens the keyring.
#[test]
fn concurrent_enrollments_all_land() {
    let server = Arc::new(Server::new(MemoryStore::new()));
    let keyring = Keyring::generate().unwrap();
    let pairs: Vec<DeviceKeyPair> = (0..8).map(|_| DeviceKeyPair::generate().unwrap()).collect();
    std::thread::scope(|s| {
        for (i, pair) in pairs.iter().enumerate() {
            let (server, keyring) = (&server, &keyring);
            s.spawn(move || {
                let t = InProcess::new(Arc::clone(server), TENANT);
                devices::enroll(keyring, TENANT, &t, &format!("device {i}"), pair.public_key()).unwrap();
            });
        }
    });
    let t = InProcess::new(Arc::clone(&server), TENANT);
    assert_eq!(devices::list(&keyring, TENANT, &t).unwrap().len(), 8);
    for pair in &pairs {
        assert_eq!(key_ids(&devices::open_keyring(pair, TENANT, &t).unwrap()), key_ids(&keyring));
    }
}
