//! `sseek serve` under hostile clients: the real binary with short limits.
//! Slow headers and thousands of idle connections are closed within the
//! header timeout while another client keeps searching; the connection cap
//! closes extra connections at once; an oversized `Content-Length` is
//! refused before its body; a stalled body meets the request deadline; a
//! query nested 10,000 deep and 10,000 random, truncated and mutated
//! requests each get a 4xx JSON answer and leave the server answering;
//! `/metrics` needs its token; HTTPS with a certificate made at test time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_truncation)]

use crate::common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::served::{Served, add_tenant, assert_rejected, raw, try_raw};
use sseek::client::{Client, Endpoint};
use sseek::datasets::Synthetic;
use sseek::keys::MasterKey;
use sseek::protocol::{self, Request};
use sseek::query::Query;
use sseek::text::Tokenizer;
use sseek::transport::{Http, Transport};

const BIN_CT: &str = "application/octet-stream";
const METRICS_TOKEN: &str = "limits-metrics-token";

/// A server on a fresh redb store with one tenant; returns (dir, server, token).
fn start(extra: &[&str]) -> (tempfile::TempDir, Served, String) {
    let (dir, served, mut tokens) = Served::on_redb(&["alice"], extra);
    (dir, served, tokens.remove(0))
}

/// `host:port` of a server URL.
fn authority(url: &str) -> String {
    url.split("://").nth(1).unwrap().trim_end_matches('/').to_owned()
}

/// A client with `n` indexed messages and one query that finds some of them.
fn indexed_client(transport: Http, n: u64) -> (Client<Http>, Query) {
    let tenant = transport.tenant().unwrap();
    let mut client = Client::connect(MasterKey::generate().unwrap(), &tenant, transport, Tokenizer::default()).unwrap();
    let msgs = Synthetic::new(5).generate(n);
    let terms = client.terms(&msgs);
    common::create_planned_schema(&mut client, &terms, 1.0);
    client.add_messages_with_terms(&msgs, &terms, None).unwrap();
    let word = msgs[0].body.split_whitespace().find(|w| w.len() > 3).unwrap().to_lowercase();
    let query = Query::parse(&format!("body:{word}"), client.specs(), client.tokenizer()).unwrap();
    assert!(!client.search(&query).unwrap().ids.is_empty());
    (client, query)
}

/// Median and largest latency of `n` searches, in milliseconds.
fn search_latency(client: &Client<Http>, query: &Query, n: usize) -> (f64, f64) {
    let mut ms: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            client.search(query).unwrap();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    (ms[n / 2], ms[n - 1])
}

/// Whether the server has closed `s`: a read sees end of file or a reset
/// instead of waiting. Anything the server wrote before closing is skipped.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn slow_headers_and_two_thousand_idle_connections_are_closed_while_searches_go_on() {
    let (_dir, served, token) = start(&["--header-timeout", "2", "--max-connections", "2100"]);
    let (client, query) = indexed_client(Http::new(&served.url, &token), 200);
    let (base_p50, base_max) = search_latency(&client, &query, 40);

    let addr = authority(&served.url);
    let opened = Instant::now();
    let mut idle: Vec<TcpStream> = (0..2000).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    // A client that trickles a request head one byte every 200 ms, never finishing it.
    let slow_addr = addr.clone();
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(slow_addr).unwrap();
        let started = Instant::now();
        for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a')) {
            if s.write_all(&[*b]).is_err() || closed_by_server(&mut s) {
                return started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(200));
            assert!(started.elapsed() < Duration::from_secs(30), "the slow-headers connection was never closed");
        }
        unreachable!()
    });

    // Searches go on while the idle connections are open.
    let (busy_p50, busy_max) = search_latency(&client, &query, 40);
    let slow_closed_after = slow.join().unwrap();
    std::thread::sleep(Duration::from_secs(2).saturating_sub(opened.elapsed()) + Duration::from_millis(1500));
    let still_open = idle.iter_mut().map(|s| !closed_by_server(s)).filter(|open| *open).count();
    eprintln!(
        "search p50/max {base_p50:.2}/{base_max:.2} ms alone, {busy_p50:.2}/{busy_max:.2} ms with 2,000 idle \
         connections and a slow-headers client; slow headers closed after {:.2} s",
        slow_closed_after.as_secs_f64()
    );
    assert_eq!(still_open, 0, "idle connections still open {:?} after opening", opened.elapsed());
    assert!(slow_closed_after < Duration::from_millis(3500), "slow headers closed after {slow_closed_after:?}");
    // Loose on purpose (this is not a benchmark): a search must not wait for the idle connections.
    assert!(busy_p50 < 250.0, "median search took {busy_p50:.1} ms with idle connections open");
    // The server still takes new connections and answers.
    assert_eq!(raw("GET", &format!("{}/healthz", served.url), None, BIN_CT, b"").0, 200);
}

#[test]
fn the_connection_cap_closes_extra_connections_at_once() {
    let (_dir, served, _token) =
        start(&["--header-timeout", "3", "--max-connections", "8", "--metrics-token", METRICS_TOKEN]);
    let addr = authority(&served.url);
    let held: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = TcpStream::connect(&addr).unwrap();
    let t = Instant::now();
    while !closed_by_server(&mut extra) {
        assert!(t.elapsed() < Duration::from_secs(1), "a connection over the cap stayed open");
    }
    drop(held);
    // The slots free up as the held connections close; until the server
    // has seen them close, a new connection is refused (reset) like `extra`.
    let t = Instant::now();
    let metrics = loop {
        match try_raw("GET", &format!("{}/metrics", served.url), Some(METRICS_TOKEN), BIN_CT, b"") {
            Ok((200, body)) => break String::from_utf8(body).unwrap(),
            Ok(_) | Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
        assert!(t.elapsed() < Duration::from_secs(5), "the slots of the closed connections never freed up");
    };
    let refused: u64 =
        metrics.lines().find_map(|l| l.strip_prefix("sseek_http_connections_refused_total ")).unwrap().parse().unwrap();
    assert!(refused >= 1, "{metrics}");
}

/// Sends `head` (and `body`) on a raw connection and reads the answer until
/// the server closes or `wait` passes: (status, JSON body, seconds taken).
fn raw_exchange(addr: &str, head: &str, body: &[u8], wait: Duration) -> (u16, serde_json::Value, f64) {
    let mut s = TcpStream::connect(addr).unwrap();
    let t = Instant::now();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((headers, rest)) = text.split_once("\r\n\r\n") {
            let length = headers
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|n| rest.len() >= n) {
                break;
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status: u16 = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no answer: {text:?}"));
    let json = text.split_once("\r\n\r\n").map(|(_, b)| serde_json::from_str(b).unwrap()).unwrap();
    (status, json, secs)
}

#[test]
fn oversized_content_length_and_stalled_bodies_are_refused_in_time() {
    let (_dir, served, token) = start(&["--request-timeout", "2", "--max-body", "1048576"]);
    let addr = authority(&served.url);
    let head = |len: u64| {
        format!(
            "POST /v1/rpc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    // 10^15 bytes announced, none sent: refused from the header alone, on
    // every route that takes a body; so is one byte over the limit.
    for (route, len) in
        [("/v1/rpc", 1_000_000_000_000_000), ("/v1/documents/3", 1_000_000_000_000_000), ("/v1/rpc", 1_048_577)]
    {
        let method = if route == "/v1/rpc" { "POST" } else { "PUT" };
        let head = head(len).replacen("POST /v1/rpc", &format!("{method} {route}"), 1);
        let (status, json, secs) = raw_exchange(&addr, &head, b"", Duration::from_secs(5));
        assert_eq!((status, json["code"].as_u64()), (413, Some(413)), "{route}: {json}");
        assert!(secs < 1.0, "413 took {secs:.2} s");
    }
    // 100 bytes announced, 10 sent, then nothing: the deadline answers 408.
    let (status, json, secs) = raw_exchange(&addr, &head(100), &[0; 10], Duration::from_secs(10));
    assert_eq!((status, json["code"].as_u64()), (408, Some(408)), "{json}");
    assert!((1.5..6.0).contains(&secs), "408 after {secs:.2} s for a 2 s deadline");
    assert_eq!(raw("GET", &format!("{}/healthz", served.url), None, BIN_CT, b"").0, 200);
}

/// A binary blind search whose query is `And` nested `depth` deep, written
/// byte by byte as the encoder would (it cannot encode this deep itself).
fn deep_search(depth: usize) -> Vec<u8> {
    let mut bytes = protocol::PROTOCOL_VERSION.to_be_bytes().to_vec();
    bytes.push(3); // Request::BlindSearch
    for _ in 1..depth {
        bytes.extend_from_slice(&[1, 1]); // And, one operand
    }
    bytes.extend_from_slice(&[0, 4, b'b', b'o', b'd', b'y', 7, 1]); // Token {"body", 7}, fetch_documents
    bytes
}

#[test]
fn ten_thousand_hostile_requests_each_get_a_json_4xx_and_change_nothing() {
    let (_dir, served, token) = start(&["--metrics-token", METRICS_TOKEN]);
    let url = served.url.clone();
    let (client, query) = indexed_client(Http::new(&url, &token), 60);
    let before = client.search(&query).unwrap().ids;
    let stats_before = client.server_stats().unwrap();
    let t = Some(token.as_str());

    // The request that used to overflow the server's stack.
    let deep = deep_search(10_000);
    assert!(deep.len() < 21_000);
    let (status, body) = raw("POST", &format!("{url}/v1/rpc"), t, BIN_CT, &deep);
    assert!(String::from_utf8_lossy(&body).contains("nested deeper"), "{}", String::from_utf8_lossy(&body));
    assert_rejected("query nested 10,000 deep", (status, body), &[400]);
    let deep_json = format!(
        "{{\"version\":1,\"body\":{{\"BlindSearch\":{{\"query\":{}{}{},\"fetch_documents\":true}}}}}}",
        "{\"And\":[".repeat(10_000),
        "{\"Token\":{\"index\":\"body\",\"value\":7}}",
        "]}".repeat(10_000)
    );
    assert_rejected(
        "JSON query nested 10,000 deep",
        raw("POST", &format!("{url}/v1/rpc"), t, "application/json", &deep_json.into_bytes()),
        &[400],
    );

    // Valid requests of every kind the mutations start from (none writes:
    // a mutation of a write could be a valid write, which is allowed).
    let seeds: Vec<Vec<u8>> = vec![
        protocol::encode(&Request::GetDocuments(vec![1, 2, 3])),
        protocol::encode(&Request::GetSchema),
        protocol::encode(&Request::Stats),
        protocol::encode(&Request::ListDocumentIds { after: Some(3), limit: 10 }),
        deep_search(3),
        protocol::encode(&Request::SseDescribe { instance: "idx".into() }),
        protocol::encode(&Request::IndexStats { blind_indexes: vec!["body".into()], sse_instances: vec![] }),
    ];
    let routes = [
        ("POST", format!("{url}/v1/rpc")),
        ("PUT", format!("{url}/v1/documents/999999")),
        ("GET", format!("{url}/v1/documents/1")),
        ("DELETE", format!("{url}/v1/documents/999999")),
        ("GET", format!("{url}/v1/documents?limit=5")),
        ("GET", format!("{url}/v1/whoami")),
        ("GET", format!("{url}/metrics")),
        ("GET", format!("{url}/healthz")),
        ("GET", format!("{url}/openapi.json")),
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut rejected, mut accepted, mut body_routes, mut body_rejected) = (0u32, 0u32, 0u32, 0u32);
    for i in 0..10_000u32 {
        let seed = &seeds[(next() % seeds.len() as u64) as usize];
        let body: Vec<u8> = match i % 4 {
            // Random bytes, half of them behind the right version.
            0 => {
                let mut b: Vec<u8> = (0..next() % 300).map(|_| next() as u8).collect();
                if next() % 2 == 0 && b.len() >= 2 {
                    b[..2].copy_from_slice(&protocol::PROTOCOL_VERSION.to_be_bytes());
                }
                b
            }
            // A strict prefix of a valid request.
            1 => seed[..(next() % seed.len() as u64) as usize].to_vec(),
            // A valid request with 1 to 4 bytes changed.
            2 => {
                let mut b = seed.clone();
                for _ in 0..=next() % 4 {
                    let at = (next() % b.len() as u64) as usize;
                    b[at] = next() as u8;
                }
                b
            }
            // A valid request with bytes inserted or appended.
            _ => {
                let mut b = seed.clone();
                let at = (next() % (b.len() as u64 + 1)) as usize;
                b.insert(at, next() as u8);
                b
            }
        };
        let (method, route) = &routes[(next() % routes.len() as u64) as usize];
        let auth = if next() % 8 == 0 { None } else { t };
        let content_type = if next() % 6 == 0 { "application/json" } else { BIN_CT };
        let (status, resp) = raw(method, route, auth, content_type, &body);
        assert!(status < 500, "{method} {route}: {status} {}", String::from_utf8_lossy(&resp));
        let takes_body = matches!(*method, "POST" | "PUT");
        body_routes += u32::from(takes_body);
        if status >= 400 {
            body_rejected += u32::from(takes_body);
            assert_rejected(
                &format!("request {i} ({method} {route})"),
                (status, resp),
                &[400, 401, 404, 405, 409, 413, 422],
            );
            rejected += 1;
        } else {
            accepted += 1;
        }
    }
    eprintln!(
        "10,000 hostile requests: {rejected} rejected with a JSON 4xx ({body_rejected} of {body_routes} on the \
         routes that read a body), {accepted} valid by chance or on routes that ignore the body"
    );
    // Most bodies are broken; the few that decode are valid read requests.
    assert!(body_rejected * 10 > body_routes * 8, "{body_rejected} of {body_routes} rejected");
    assert_eq!(client.search(&query).unwrap().ids, before);
    assert_eq!(client.server_stats().unwrap(), stats_before);
    assert_eq!(raw("GET", &format!("{url}/healthz"), None, BIN_CT, b"").0, 200);
}

#[test]
fn metrics_are_off_without_a_token() {
    let (_dir, served, token) = start(&[]);
    assert_rejected("metrics off", raw("GET", &format!("{}/metrics", served.url), Some(&token), BIN_CT, b""), &[404]);
}

#[test]
fn https_with_a_certificate_made_at_test_time() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let other_path = dir.path().join("other.pem");
    std::fs::write(&other_path, other.cert.pem()).unwrap();

    let spec = format!("redb:{}", dir.path().join("server.redb").display());
    let token = add_tenant(&spec, "unused", "alice");
    let tls_args = ["--tls-cert", cert_path.to_str().unwrap(), "--tls-key", key_path.to_str().unwrap()];
    let served = Served::start(&spec, "unused", &dir.path().join("server.log"), &tls_args);
    assert!(served.url.starts_with("https://"), "{}", served.url);

    let endpoint = Endpoint { url: served.url.clone(), token: token.clone(), ca: Some(cert_path.clone()) };
    let (client, query) = indexed_client(endpoint.connect().unwrap(), 40);
    assert!(!client.search(&query).unwrap().ids.is_empty());
    assert!(client.traffic().bytes_sent > 0);

    // The system roots do not know this certificate, nor does another CA.
    let err = Http::new(&served.url, &token).tenant().unwrap_err().to_string();
    assert!(err.to_lowercase().contains("cert"), "{err}");
    let err = Http::with_ca(&served.url, &token, &other_path).unwrap().tenant().unwrap_err().to_string();
    assert!(err.to_lowercase().contains("cert"), "{err}");
    // Plain HTTP to the TLS port gets no answer.
    let plain = served.url.replacen("https://", "http://", 1);
    assert!(Http::new(&plain, &token).tenant().is_err());
    // A file with no certificate is a clear error.
    let err = Http::with_ca(&served.url, &token, &key_path).unwrap_err().to_string();
    assert!(err.contains("no PEM certificate"), "{err}");
    // The CLI takes --ca.
    let out = std::process::Command::new(common::served::BIN)
        .args([
            "search",
            "--key",
            "/nonexistent",
            "--server",
            &served.url,
            "--ca",
            cert_path.to_str().unwrap(),
            "body:x",
        ])
        .env("SSEEK_TOKEN", &token)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent"), "{}", String::from_utf8_lossy(&out.stderr));
    // A server given a key that does not fit its certificate refuses to start.
    let out = std::process::Command::new(common::served::BIN)
        .args(["serve", "--store", &format!("redb:{}", dir.path().join("b.redb").display()), "--listen", "127.0.0.1:0"])
        .args(["--tls-cert", other_path.to_str().unwrap(), "--tls-key", key_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TLS"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn tenant_rate_and_storage_quotas_answer_429() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("redb:{}", dir.path().join("server.redb").display());
    let alice = add_tenant(&spec, "unused", "alice");
    let bob = add_tenant(&spec, "unused", "bob");
    let served = Served::start(&spec, "unused", &dir.path().join("server.log"), &["--tenant-rate", "5"]);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let whoami = |token: &str| {
        let mut resp = agent
            .get(format!("{}/v1/whoami", served.url))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap();
        let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        (resp.status().as_u16(), retry, resp.body_mut().read_to_string().unwrap())
    };
    // Alice's burst of 5 passes, then she waits; Bob has a bucket of his own.
    let statuses: Vec<u16> = (0..12).map(|_| whoami(&alice).0).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 5, "{statuses:?}");
    let (status, retry, body) = whoami(&alice);
    assert_eq!(status, 429, "{body}");
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    assert!(body.contains("\"code\":429"), "{body}");
    assert_eq!(whoami(&bob).0, 200);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(whoami(&alice).0, 200, "the bucket refills");

    // On a server with a storage quota, Bob fills his: the write that would
    // pass it is refused whole.
    drop(served);
    let served = Served::start(&spec, "unused", &dir.path().join("server2.log"), &["--tenant-quota-bytes", "400000"]);
    let http = Http::new(&served.url, &bob);
    let mut client = Client::connect(MasterKey::generate().unwrap(), "bob", http, Tokenizer::default()).unwrap();
    let msgs = Synthetic::new(8).generate(60);
    let terms = client.terms(&msgs);
    common::create_planned_schema(&mut client, &terms, 20.0);
    let mut stored = Vec::new();
    let refusal = loop {
        match client.add_messages_with_terms(&msgs, &terms, None) {
            Ok(r) => stored.extend(r),
            Err(e) => break e,
        }
        assert!(stored.len() < 10_000, "the quota never applied");
    };
    assert!(matches!(&refusal, sseek::Error::Server { code: 429, message } if message.contains("quota")), "{refusal}");
    let used = client.server_stats().unwrap();
    let bytes = used.document_bytes + used.posting_bytes + used.sse_bytes;
    eprintln!(
        "storage quota 400000 bytes: {} messages stored ({bytes} bytes of documents and postings) before a 429",
        stored.len()
    );
    assert!(bytes <= 400_000, "{bytes} bytes stored over a quota of 400000");
    // Deleting makes room again.
    client.delete_messages(&stored[..stored.len() / 2]).unwrap();
    client.add_messages_with_terms(&msgs[..10], &terms[..10], None).unwrap();
}

#[test]
fn bodies_queue_for_the_memory_budget() {
    let (_dir, served, token) = start(&["--memory-budget-mib", "1"]);
    let addr = authority(&served.url);
    // An upload announcing 100 KB (charged 32 times: more than the whole
    // 1 MiB budget, so it takes all of it) that stalls after 10 bytes.
    let mut staller = TcpStream::connect(&addr).unwrap();
    let head = format!(
        "POST /v1/rpc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n"
    );
    staller.write_all(head.as_bytes()).unwrap();
    staller.write_all(&[0; 10]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let http = Http::new(&served.url, &token);
    // A request without a body does not wait for the budget.
    let t = Instant::now();
    http.tenant().unwrap();
    assert!(t.elapsed() < Duration::from_millis(500), "whoami waited {:?}", t.elapsed());
    // One with a body waits until the stalled upload gives its share back.
    let waiter = std::thread::spawn(move || {
        let t = Instant::now();
        http.call(&Request::GetSchema).unwrap();
        t.elapsed()
    });
    std::thread::sleep(Duration::from_millis(1000));
    drop(staller);
    let waited = waiter.join().unwrap();
    eprintln!(
        "a request with a body waited {:.2} s for a stalled upload's share of the memory budget",
        waited.as_secs_f64()
    );
    assert!(waited >= Duration::from_millis(900), "it did not wait: {waited:?}");
    assert!(waited < Duration::from_secs(5));
}
