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
