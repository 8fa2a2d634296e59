//! The `sseek` binary end to end: keygen, index a mail directory, search,
//! key backup and restore, and clear errors for bad input.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn sseek(args: &[&str], passphrase: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sseek"));
    c.args(args);
    if let Some(p) = passphrase {
        c.env("SSEEK_PASSPHRASE", p);
    } else {
        c.env_remove("SSEEK_PASSPHRASE");
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn keygen_index_search_backup() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).display().to_string();
    let mail = dir.path().join("mail");
    std::fs::create_dir(&mail).unwrap();
    std::fs::write(mail.join("1.eml"), "From: Ann <ann@example.com>\nTo: bob@example.com\nSubject: Budget review\nDate: Thu, 22 Aug 2002 18:26:25 +0700\n\nThe budget spreadsheet is attached.\n").unwrap();
    std::fs::write(mail.join("2.eml"), "From: bob@example.com\nTo: ann@example.com\nSubject: Re: Budget review\nDate: Fri, 23 Aug 2002 09:00:00 +0700\n\nThanks, the numbers look right.\n").unwrap();
    std::fs::write(mail.join("3.eml"), "not a mail at all\n").unwrap();

    let o = sseek(&["keygen", "--key", &d("k.key")], None);
    assert!(o.status.success(), "{}", text(&o));
    let o = sseek(&["keygen", "--key", &d("k.key")], None);
    assert!(!o.status.success(), "keygen must not overwrite a key");

    let o = sseek(&["index", "--key", &d("k.key"), "--store", &d("store"), "--dataset", &d("mail")], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("indexed 2 messages") && text(&o).contains("3.eml"), "{}", text(&o));

    let o = sseek(&["search", "--key", &d("k.key"), "--store", &d("store"), "body:budget OR body:numbers"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).starts_with("2 results"), "{}", text(&o));
    let o = sseek(
        &["search", "--key", &d("k.key"), "--store", &d("store"), "subject:budget AND from:ANN@example.com"],
        None,
    );
    assert!(text(&o).starts_with("1 results") && text(&o).contains("spreadsheet"), "{}", text(&o));
    let o = sseek(&["search", "--key", &d("k.key"), "--store", &d("store"), "body:the"], None);
    assert!(!o.status.success() && text(&o).contains("never indexed"), "{}", text(&o));

    // Another key cannot read the store: decryption fails with a clear error, not garbage.
    let o = sseek(&["keygen", "--key", &d("other.key")], None);
    assert!(o.status.success());
    let o = sseek(&["search", "--key", &d("other.key"), "--store", &d("store"), "body:budget"], None);
    assert!(!o.status.success() || text(&o).starts_with("0 results"), "{}", text(&o));

    let o = sseek(&["export-key", "--key", &d("k.key"), "--out", &d("k.backup")], Some("hunter2 hunter2"));
    assert!(o.status.success(), "{}", text(&o));
    let o = sseek(&["import-key", "--backup", &d("k.backup"), "--key", &d("restored.key")], Some("wrong"));
    assert!(!o.status.success() && text(&o).contains("wrong passphrase"), "{}", text(&o));
    let o = sseek(&["import-key", "--backup", &d("k.backup"), "--key", &d("restored.key")], Some("hunter2 hunter2"));
    assert!(o.status.success(), "{}", text(&o));
    let o =
        sseek(&["search", "--key", &d("restored.key"), "--store", &d("store"), "day:2002-08-23", "--show", "0"], None);
    assert!(text(&o).starts_with("1 results") && text(&o).contains("[1]"), "{}", text(&o));

    std::fs::write(dir.path().join("bad.key"), b"SSEEKKEY\x00\x01short").unwrap();
    let o = sseek(&["search", "--key", &d("bad.key"), "--store", &d("store"), "body:budget"], None);
    assert!(!o.status.success() && text(&o).contains("truncated"), "{}", text(&o));
}

/// Key files: `keygen` writes a keyring; an old single-key file still
/// works everywhere and `upgrade-key` rewrites it as a keyring, keeping the
/// key; `forget` destroys either (and refuses without --yes).
#[test]
fn key_files_old_and_new() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.key");
    let master = sseek::keys::MasterKey::generate().unwrap();
    master.save(&old).unwrap();
    let bin = env!("CARGO_BIN_EXE_sseek");
    let run = |args: &[&str]| {
        let out = Command::new(bin).args(args).output().unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let old_s = old.display().to_string();
    let store = dir.path().join("store").display().to_string();
    let data = dir.path().join("m.jsonl");
    std::fs::write(&data, "{\"id\":1,\"text\":\"lunch at noon\",\"from\":\"ann@example.com\"}\n").unwrap();
    let (ok, said) = run(&["index", "--key", &old_s, "--store", &store, "--dataset", &data.display().to_string()]);
    assert!(ok, "an old key file indexes: {said}");
    let (ok, said) = run(&["upgrade-key", "--key", &old_s]);
    assert!(ok && said.contains("versions [1], current 1"), "{said}");
    let bytes = std::fs::read(&old).unwrap();
    assert_eq!(&bytes[8..10], &[0, 2], "not rewritten as a keyring");
    let (ok, said) = run(&["search", "--key", &old_s, "--store", &store, "body:noon"]);
    assert!(ok && said.contains("1 results"), "the upgraded key opens the same data: {said}");
    let (ok, _) = run(&["forget", "--key", &old_s]);
    assert!(!ok && old.exists(), "forget needs --yes");
    let (ok, said) = run(&["forget", "--key", &old_s, "--yes"]);
    assert!(ok && !old.exists(), "{said}");
    let (ok, said) = run(&["search", "--key", &old_s, "--store", &store, "body:noon"]);
    assert!(!ok, "a forgotten key still opens: {said}");
}

/// `sseek device`: a new device makes its key pair, a device holding the
/// keyring enrolls it by its public key, the new device writes the keyring
/// (the same keys), both list it, revocation removes it (and says that a
/// rotation follows); bad input is refused with clear errors.
#[test]
fn device_init_enroll_open_list_revoke() {
    use sseek::keys::Keyring;
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).display().to_string();
    let store = format!("redb:{}", d("s.redb"));
    let at = |args: &[&str]| -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--store", &store, "--tenant", "acct"]);
        sseek(&all, None)
    };
    assert!(sseek(&["keygen", "--key", &d("a.key")], None).status.success());

    let o = sseek(&["device", "init", "--device-key", &d("b.device")], None);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let field = |name: &str| {
        out.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned()).unwrap_or_else(|| panic!("{out}"))
    };
    let (fingerprint, public) = (field("fingerprint"), field("public key"));
    assert_eq!((fingerprint.len(), public.len()), (19, 64), "{out}");
    let o = sseek(&["device", "init", "--device-key", &d("b.device")], None);
    assert!(!o.status.success(), "init must not overwrite a device key");

    let o = at(&["device", "enroll", "--key", &d("a.key"), "--public", &public, "--name", "phone"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&fingerprint), "{}", text(&o));
    let o = at(&["device", "enroll", "--key", &d("a.key"), "--public", "not hex", "--name", "x"]);
    assert!(!o.status.success() && text(&o).contains("64 hex digits"), "{}", text(&o));

    let o = at(&["device", "open", "--device-key", &d("b.device"), "--out", &d("b.key")]);
    assert!(o.status.success(), "{}", text(&o));
    let (a, b) = (Keyring::load(&dir.path().join("a.key")).unwrap(), Keyring::load(&dir.path().join("b.key")).unwrap());
    assert_eq!((b.versions(), b.current().key_id()), (a.versions(), a.current().key_id()));
    assert!(text(&o).contains(&a.current().key_id().to_string()), "{}", text(&o));
    let before = std::fs::read(dir.path().join("b.key")).unwrap();
    let o = at(&["device", "open", "--device-key", &d("b.device"), "--out", &d("b.key")]);
    assert!(!o.status.success() && text(&o).contains("--force"), "{}", text(&o));
    assert_eq!(std::fs::read(dir.path().join("b.key")).unwrap(), before);
    let o = at(&["device", "open", "--device-key", &d("b.device"), "--out", &d("b.key"), "--force"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = at(&["device", "open", "--device-key", &d("a.key"), "--out", &d("c.key")]);
    assert!(!o.status.success() && text(&o).contains("not a device key file"), "{}", text(&o));

    for key in ["a.key", "b.key"] {
        let o = at(&["device", "list", "--key", &d(key)]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).starts_with("1 device(s)") && text(&o).contains(&fingerprint), "{}", text(&o));
        assert!(text(&o).contains("phone"), "{}", text(&o));
    }

    let o = at(&["device", "revoke", &fingerprint, "--key", &d("a.key")]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("rotated the account's keys from version 1 to 2"), "{}", text(&o));
    assert_eq!(Keyring::load(&dir.path().join("a.key")).unwrap().versions(), vec![2], "revoke did not rotate");
    let o = at(&["device", "open", "--device-key", &d("b.device"), "--out", &d("b.key"), "--force"]);
    assert!(!o.status.success() && text(&o).contains("not enrolled, or revoked"), "{}", text(&o));
    assert_eq!(std::fs::read(dir.path().join("b.key")).unwrap(), before, "a failed open overwrote the keyring");
    let o = at(&["device", "list", "--key", &d("a.key")]);
    assert!(text(&o).starts_with("0 device(s)"), "{}", text(&o));
    let o = at(&["device", "revoke", &fingerprint, "--key", &d("a.key")]);
    assert!(!o.status.success() && text(&o).contains("not enrolled"), "{}", text(&o));
}
