//! Corpora: the shipped SpamAssassin mail corpus, loaders for a user's own
//! mail directories, mail archives and JSONL files, and a seeded synthetic
//! chat generator with Zipf-distributed keywords.
//!
//! ```
//! use sseek::datasets::Synthetic;
//! let generator = Synthetic::new(42);
//! let a = generator.message(17);
//! assert_eq!(a, Synthetic::new(42).message(17)); // deterministic per (seed, index)
//! assert_eq!(generator.generate(1000).len(), 1000);
//! ```

// Float-to-integer casts here saturate and act on bounded statistics.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use mail_parser::MessageParser;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Zipf};
use rayon::prelude::*;

use crate::message::{JsonlMessage, Message};
use crate::{Error, Result};

/// File name of the shipped corpus archive in `datasets/`.
pub const SPAMASSASSIN_ARCHIVE: &str = "spamassassin-0.2.3.tar.gz";
/// Name under which the shipped corpus is loaded.
pub const SPAMASSASSIN: &str = "spamassassin";
/// Largest mail file read (larger ones are skipped with an error).
pub const MAX_MAIL_BYTES: u64 = 16 * 1024 * 1024;

/// A loaded corpus.
#[derive(Debug, Default)]
pub struct Corpus {
    /// Name (dataset path or `spamassassin`).
    pub name: String,
    /// The messages, in a stable order (ids are assigned in this order).
    pub messages: Vec<Message>,
    /// Files or lines that could not be parsed, with the reason. Loading goes
    /// on past them; callers report them.
    pub skipped: Vec<Error>,
}

/// Where the shipped datasets live: `$SSEEK_DATASETS`, else `datasets/` in
/// the source tree this binary was built from, else `./datasets`.
pub fn datasets_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SSEEK_DATASETS") {
        return PathBuf::from(d);
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets");
    if built.is_dir() { built } else { PathBuf::from("datasets") }
}

/// Loads a corpus: `spamassassin` (the shipped archive), `synthetic:N[:SEED]`
/// (N generated chat messages), a directory of mail files, a `.jsonl` file,
/// or a `.tar.gz` archive of mail files.
///
/// # Errors
/// [`Error::Dataset`] if the path does not exist or is of no known kind.
pub fn load(spec: &str) -> Result<Corpus> {
    if spec == SPAMASSASSIN {
        let path = datasets_dir().join(SPAMASSASSIN_ARCHIVE);
        let mut c = load_mail_archive(&path)?;
        c.name = SPAMASSASSIN.into();
        return Ok(c);
    }
    if let Some(rest) = spec.strip_prefix("synthetic:") {
        let mut parts = rest.splitn(2, ':');
        let bad = |what: &str| Error::Dataset {
            path: spec.into(),
            reason: format!("{what} (use synthetic:N or synthetic:N:SEED)"),
        };
        let n: u64 = parts.next().unwrap_or_default().replace('_', "").parse().map_err(|_| bad("bad message count"))?;
        let seed: u64 = match parts.next() {
            Some(s) => s.parse().map_err(|_| bad("bad seed"))?,
            None => 1,
        };
        if !(1..=10_000_000).contains(&n) {
            return Err(bad("message count must be 1 to 10,000,000"));
        }
        return Ok(Corpus {
            name: format!("synthetic:{n}:{seed}"),
            messages: Synthetic::new(seed).generate(n),
            skipped: Vec::new(),
        });
    }
    let path = Path::new(spec);
    if path.is_dir() {
        load_mail_dir(path)
    } else if spec.ends_with(".jsonl") || spec.ends_with(".ndjson") {
        load_jsonl(path)
    } else if spec.ends_with(".tar.gz") || spec.ends_with(".tgz") {
        load_mail_archive(path)
    } else if path.is_file() {
        let bytes = read_limited(path)?;
        let m = parse_mail(&bytes, spec)?;
        Ok(Corpus { name: spec.into(), messages: vec![m], skipped: Vec::new() })
    } else {
        Err(Error::Dataset {
            path: spec.into(),
            reason: "no such directory, .jsonl, .tar.gz or mail file (or use `spamassassin`)".into(),
        })
    }
}

fn read_limited(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() > MAX_MAIL_BYTES {
        return Err(Error::MalformedMail {
            path: path.display().to_string(),
            reason: format!("{} bytes exceeds the {MAX_MAIL_BYTES}-byte limit", meta.len()),
        });
    }
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Parses one RFC 822 message (MIME, encodings and charsets handled by
/// `mail-parser`). A plain text file without headers is rejected: use JSONL
/// for plain texts.
///
/// # Errors
/// [`Error::MalformedMail`] naming the file and the problem.
pub fn parse_mail(bytes: &[u8], name: &str) -> Result<Message> {
    let bad = |reason: &str| Error::MalformedMail { path: name.into(), reason: reason.into() };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(bad("empty file"));
    }
    if bytes.contains(&0) {
        return Err(bad("binary data (NUL bytes), not a mail message"));
    }
    // An RFC 822 message starts with a header field `Name: value` (or an mbox `From ` line).
    let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let looks_like_header = first_line.starts_with(b"From ")
        || first_line
            .iter()
            .position(|&b| b == b':')
            .is_some_and(|p| p > 0 && first_line[..p].iter().all(|&b| b.is_ascii_graphic() && b != b':'));
    if !looks_like_header {
        return Err(bad("no RFC 822 header at the start of the file"));
    }
    let parsed = MessageParser::default().parse(bytes).ok_or_else(|| bad("not parseable as RFC 822"))?;
    if parsed.headers().is_empty() {
        return Err(bad("no header fields"));
    }
    let from = parsed.from().and_then(|a| a.first()).and_then(|a| a.address()).unwrap_or_default().to_owned();
    let to = parsed.to().map(|a| a.iter().filter_map(|x| x.address()).map(str::to_owned).collect()).unwrap_or_default();
    let subject = parsed.subject().unwrap_or_default().to_owned();
    let date = parsed.date().map(|d| d.to_rfc3339()).unwrap_or_default();
    let body = parsed.body_text(0).map(|b| b.into_owned()).unwrap_or_default();
    Ok(Message { from, to, subject, date, body })
}

/// Loads every regular file below `dir` (recursively, sorted by path) as a mail.
///
/// # Errors
/// [`Error::Dataset`] if the directory cannot be read. Unparseable files are
/// listed in [`Corpus::skipped`].
pub fn load_mail_dir(dir: &Path) -> Result<Corpus> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d)
            .map_err(|e| Error::Dataset { path: d.display().to_string(), reason: e.to_string() })?;
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(&d, e))?;
            let p = entry.path();
            let ft = entry.file_type().map_err(|e| Error::io(&p, e))?;
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                files.push(p);
            }
        }
    }
    files.sort();
    let results: Vec<Result<Message>> =
        files.par_iter().map(|p| read_limited(p).and_then(|b| parse_mail(&b, &p.display().to_string()))).collect();
    Ok(split_results(dir.display().to_string(), results))
}

fn split_results(name: String, results: Vec<Result<Message>>) -> Corpus {
    let mut c = Corpus { name, ..Default::default() };
    for r in results {
        match r {
            Ok(m) => c.messages.push(m),
            Err(e) => c.skipped.push(e),
        }
    }
    c
}

/// Loads the mail files of a `.tar.gz` archive (in archive order).
///
/// # Errors
/// [`Error::Dataset`] if the archive is missing or damaged.
pub fn load_mail_archive(path: &Path) -> Result<Corpus> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| Error::Dataset { path: name.clone(), reason: e.to_string() })?;
    let mut archive = tar::Archive::new(GzDecoder::new(std::io::BufReader::new(file)));
    let mut raw = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| Error::Dataset { path: name.clone(), reason: format!("not a tar.gz archive: {e}") })?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| Error::Dataset { path: name.clone(), reason: format!("damaged archive: {e}") })?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member = entry.path().map(|p| p.display().to_string()).unwrap_or_else(|_| "?".into());
        if entry.size() > MAX_MAIL_BYTES {
            raw.push((member, Err("member exceeds the size limit".to_owned())));
            continue;
        }
        let mut buf = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry
            .read_to_end(&mut buf)
            .map_err(|e| Error::Dataset { path: name.clone(), reason: format!("damaged archive: {e}") })?;
        raw.push((member, Ok(buf)));
    }
    let results: Vec<Result<Message>> = raw
        .par_iter()
        .map(|(member, data)| match data {
            Ok(b) => parse_mail(b, &format!("{name}:{member}")),
            Err(reason) => Err(Error::MalformedMail { path: format!("{name}:{member}"), reason: reason.clone() }),
        })
        .collect();
    Ok(split_results(name, results))
}

/// Loads a JSONL file, one `{"id", "text", optional "from", "to", "subject", "date"}` object per line.
///
/// # Errors
/// [`Error::Dataset`] if the file cannot be read. Bad lines are listed in [`Corpus::skipped`].
pub fn load_jsonl(path: &Path) -> Result<Corpus> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| Error::Dataset { path: name.clone(), reason: e.to_string() })?;
    let mut results = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        results.push(serde_json::from_str::<JsonlMessage>(&line).map(JsonlMessage::into_message).map_err(|e| {
            Error::MalformedMail { path: format!("{name}:{}", n + 1), reason: format!("bad JSONL record: {e}") }
        }));
    }
    Ok(split_results(name, results))
}

/// A seeded generator of chat messages: senders and recipients from a user
/// population, a day within a year, and 3 to 30 words drawn from a
/// Zipf-distributed vocabulary. Message `i` depends only on the seed and
/// `i`, so any size from 10^3 to 10^7 is generated in parallel or streamed.
#[derive(Debug, Clone)]
pub struct Synthetic {
    seed: u64,
    /// Vocabulary size.
    pub vocabulary: u32,
    /// Zipf exponent of word frequencies.
    pub zipf_exponent: f64,
    /// Number of users.
    pub users: u32,
}

impl Synthetic {
    /// A generator with 50,000 words (Zipf exponent 1.07) and 1,000 users.
    pub fn new(seed: u64) -> Self {
        Synthetic { seed, vocabulary: 50_000, zipf_exponent: 1.07, users: 1_000 }
    }

    /// The word of vocabulary rank `r` (1-based): pronounceable, distinct per rank.
    pub fn word(rank: u32) -> String {
        const C: &[u8] = b"bcdfghjklmnprstvz";
        const V: &[u8] = b"aeiou";
        let mut r = rank as usize;
        let mut w = String::new();
        loop {
            w.push(C[r % C.len()] as char);
            r /= C.len();
            w.push(V[r % V.len()] as char);
            r /= V.len();
            if r == 0 {
                break;
            }
        }
        w
    }

    /// Message number `i`.
    #[allow(clippy::cast_possible_truncation)] // Zipf samples are at most the vocabulary or user count, both u32
    pub fn message(&self, i: u64) -> Message {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let words = Zipf::new(f64::from(self.vocabulary), self.zipf_exponent)
            .unwrap_or_else(|_| unreachable!("valid Zipf parameters"));
        let users = Zipf::new(f64::from(self.users), 0.8).unwrap_or_else(|_| unreachable!("valid Zipf parameters"));
        let from = users.sample(&mut rng) as u32;
        let mut to = users.sample(&mut rng) as u32;
        if to == from {
            to = to % self.users + 1;
        }
        let n = rng.random_range(3..=30);
        let body: Vec<String> = (0..n).map(|_| Self::word(words.sample(&mut rng) as u32)).collect();
        let day = 1 + (i * 365 / 1_000_000 + rng.random_range(0..3)) % 365;
        let (month, dom) = (1 + (day - 1) / 31 % 12, 1 + (day - 1) % 28);
        Message {
            from: format!("user{from}@chat.example"),
            to: vec![format!("user{to}@chat.example")],
            subject: String::new(),
            date: format!("2026-{month:02}-{dom:02}T12:00:00Z"),
            body: body.join(" "),
        }
    }

    /// Messages `0..n`, generated in parallel.
    pub fn generate(&self, n: u64) -> Vec<Message> {
        (0..n).into_par_iter().map(|i| self.message(i)).collect()
    }
}

/// A keyword multimap with a Zipf-like keyword rule, the corpora on which
/// scheme costs are compared with other SSE libraries: each of `messages`
/// documents gets `keywords_per_message` draws of keyword index
/// `k = floor(V^r)` with `r` uniform in `[0, 1)` and `V = vocabulary`
/// (repeated draws within a document count once). Document `i` depends only
/// on the seed and `i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipfMultimap {
    /// Number of documents.
    pub messages: u64,
    /// Keyword draws per document.
    pub keywords_per_message: u32,
    /// `V` of the rule `k = floor(V^r)`.
    pub vocabulary: u32,
    /// Seed.
    pub seed: u64,
}

/// Name of the sparse Zipf corpus (100,000 documents, 5 draws, V = 10,000, about 490,000 pairs).
pub const ZIPF_SPARSE: &str = "zipf-sparse";
/// Name of the dense Zipf corpus (100,000 documents, 18 draws, V = 1,000: 1.57 million
/// pairs expected from the rule, since repeated draws of the head keywords count once).
pub const ZIPF_DENSE: &str = "zipf-dense";

impl ZipfMultimap {
    /// The sparse corpus: 100,000 documents, 5 draws each, V = 10,000.
    pub fn sparse(seed: u64) -> Self {
        ZipfMultimap { messages: 100_000, keywords_per_message: 5, vocabulary: 10_000, seed }
    }

    /// The dense corpus: 100,000 documents, 18 draws each, V = 1,000.
    pub fn dense(seed: u64) -> Self {
        ZipfMultimap { messages: 100_000, keywords_per_message: 18, vocabulary: 1_000, seed }
    }

    /// The corpus of a name ([`ZIPF_SPARSE`] or [`ZIPF_DENSE`]), or `None`.
    pub fn named(name: &str, seed: u64) -> Option<Self> {
        match name {
            ZIPF_SPARSE => Some(Self::sparse(seed)),
            ZIPF_DENSE => Some(Self::dense(seed)),
            _ => None,
        }
    }

    /// The keyword of index `k`: one value of a `zipf` index, so it is encoded
    /// like every other keyword ([`crate::multimap::keyword`]).
    pub fn keyword(k: u32) -> crate::multimap::Keyword {
        crate::multimap::keyword("zipf", &[&k.to_string()])
    }

    /// The distinct keyword indexes of document `i`, ascending.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // V^r < V <= u32::MAX and >= 1
    pub fn document(&self, i: u64) -> Vec<u32> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let v = f64::from(self.vocabulary.max(2));
        let mut ks: Vec<u32> =
            (0..self.keywords_per_message).map(|_| v.powf(rng.random::<f64>()).floor() as u32).collect();
        ks.sort_unstable();
        ks.dedup();
        ks
    }

    /// The whole multimap, keyword to ascending document ids (ids are `0..messages`,
    /// which must fit a [`crate::protocol::DocId`]).
    #[allow(clippy::cast_possible_truncation)] // ids below `messages`, at most u32::MAX by the contract above
    pub fn multimap(&self) -> crate::multimap::MultiMap {
        let docs: Vec<Vec<u32>> = (0..self.messages).into_par_iter().map(|i| self.document(i)).collect();
        let mut lists: std::collections::BTreeMap<u32, Vec<crate::protocol::DocId>> = std::collections::BTreeMap::new();
        for (i, ks) in docs.iter().enumerate() {
            for &k in ks {
                lists.entry(k).or_default().push(i as crate::protocol::DocId);
            }
        }
        lists.into_iter().map(|(k, ids)| (Self::keyword(k), ids)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_spec() {
        let c = load("synthetic:1_000:7").unwrap();
        assert_eq!(c.messages.len(), 1000);
        assert_eq!(c.messages[5], Synthetic::new(7).message(5));
        assert!(load("synthetic:0").is_err());
        assert!(load("synthetic:x").unwrap_err().to_string().contains("synthetic:N"));
    }

    #[test]
    fn words_are_distinct() {
        let mut s = std::collections::HashSet::new();
        for r in 1..20_000 {
            assert!(s.insert(Synthetic::word(r)), "rank {r}");
        }
    }

    #[test]
    fn zipf_head_is_frequent() {
        let g = Synthetic::new(1);
        let msgs = g.generate(2000);
        let top = Synthetic::word(1);
        let rare = Synthetic::word(40_000);
        let count = |w: &str| msgs.iter().filter(|m| m.body.split(' ').any(|x| x == w)).count();
        assert!(count(&top) > 10 * count(&rare).max(1));
    }

    #[test]
    fn malformed_mail_is_named() {
        let e = parse_mail(b"just some words\nno header\n", "x.eml").unwrap_err().to_string();
        assert!(e.contains("x.eml") && e.contains("header"), "{e}");
        assert!(parse_mail(b"", "e.eml").unwrap_err().to_string().contains("empty"));
        assert!(parse_mail(b"From: a\0b", "b.eml").unwrap_err().to_string().contains("binary"));
        let m = parse_mail(b"From: Ann <ann@example.com>\r\nTo: bob@example.com\r\nSubject: Hi there\r\nDate: Thu, 22 Aug 2002 18:26:25 +0700\r\n\r\nHello Bob\r\n", "ok.eml").unwrap();
        assert_eq!(m.from, "ann@example.com");
        assert_eq!(m.to, vec!["bob@example.com".to_string()]);
        assert_eq!(m.subject, "Hi there");
        assert!(m.date.starts_with("2002-08-22"));
        assert!(m.body.contains("Hello Bob"));
    }

    #[test]
    fn zipf_multimaps_have_the_stated_shape() {
        for (corpus, low, high) in
            [(ZipfMultimap::sparse(1), 470_000, 500_000), (ZipfMultimap::dense(1), 1_540_000, 1_600_000)]
        {
            let db = corpus.multimap();
            let pairs = crate::multimap::pair_count(&db);
            assert!((low..high).contains(&pairs), "{corpus:?}: {pairs} pairs");
            // k = 1 takes every draw with r < ln 2 / ln V (7.5% sparse, 10% dense): a heavy head.
            let head = db[&ZipfMultimap::keyword(1)].len();
            assert!(head > db.values().map(Vec::len).sum::<usize>() / 20, "head list {head}");
            assert!(db.keys().all(|k| db[k].windows(2).all(|w| w[0] < w[1])));
        }
        assert_eq!(ZipfMultimap::sparse(3).document(7), ZipfMultimap::sparse(3).document(7));
        assert_eq!(ZipfMultimap::named(ZIPF_DENSE, 2), Some(ZipfMultimap::dense(2)));
    }
}
