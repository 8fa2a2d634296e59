//! Right of access: every message of the account, decrypted, as JSONL that
//! `sseek index` takes back.

use std::io::Write;

use indicatif::ProgressBar;
use rayon::prelude::*;

use super::Client;
use crate::message::JsonlMessage;
use crate::protocol::transport::Transport;
use crate::protocol::{DocId, Request, Response, unexpected};
use crate::{Error, Result};

/// Messages listed and fetched per request during an export.
const EXPORT_CHUNK: u32 = 2_000;

impl<T: Transport> Client<T> {
    /// Writes every message of the tenant to `out`, one JSONL record per
    /// line in id order (`{"id", "text", "from", "to", "subject", "date"}`),
    /// and returns how many. Memory holds one chunk of messages at a time.
    /// A message deleted while the export runs may be left out; none is
    /// written twice.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use sseek::{client::Client, keys::MasterKey, message::Message};
    /// # use sseek::{server::Server, store::MemoryStore, transport::InProcess, text::Tokenizer};
    /// # use sseek::blind::{default_index_specs, planner::plan_for_corpus};
    /// # let server = Arc::new(Server::new(MemoryStore::new()));
    /// # let mut client = Client::connect(MasterKey::generate()?, "acme", InProcess::new(server, "acme"), Tokenizer::default())?;
    /// # let msgs = vec![Message { body: "lunch at noon?".into(), ..Default::default() }];
    /// # let terms: Vec<_> = msgs.iter().map(|m| m.terms(client.tokenizer())).collect();
    /// # client.create_schema(plan_for_corpus(&terms, &default_index_specs(), 10.0, 2.0, 1.0).into_iter().map(|(d, _)| d).collect())?;
    /// client.add_messages(&msgs, None)?;
    /// let mut out = Vec::new();
    /// assert_eq!(client.export(&mut out, None)?, 1);
    /// assert!(String::from_utf8(out).unwrap().contains("lunch at noon?"));
    /// # Ok::<(), sseek::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Decrypt`] for a document the key does not open; transport,
    /// server and write errors (`Error::Io` names `<export>`).
    pub fn export(&self, out: &mut dyn Write, progress: Option<&ProgressBar>) -> Result<u64> {
        if let Some(pb) = progress {
            pb.set_length(self.server_stats()?.documents);
        }
        let mut after: Option<DocId> = None;
        let mut written = 0u64;
        loop {
            let ids = match self.transport.call(&Request::ListDocumentIds { after, limit: EXPORT_CHUNK })? {
                Response::DocumentIds(ids) => ids,
                other => return Err(unexpected(&other)),
            };
            let Some(&last) = ids.last() else { break };
            if after.is_some_and(|a| ids[0] <= a) || ids.windows(2).any(|w| w[0] >= w[1]) {
                return Err(Error::Server { code: 502, message: "server listed document ids out of order".into() });
            }
            let documents = match self.transport.call(&Request::GetDocuments(ids.clone()))? {
                Response::Documents(d) => d,
                other => return Err(unexpected(&other)),
            };
            let mut opened = documents
                .par_iter()
                .map(|d| {
                    let id = d.public.doc_id;
                    if ids.binary_search(&id).is_err() {
                        return Err(Error::Server {
                            code: 502,
                            message: format!("server returned document {id}, not asked for"),
                        });
                    }
                    Ok((id, self.cipher.open(d, id)?))
                })
                .collect::<Result<Vec<_>>>()?;
            opened.sort_unstable_by_key(|(id, _)| *id);
            opened.dedup_by_key(|(id, _)| *id);
            for (id, m) in &opened {
                serde_json::to_writer(&mut *out, &JsonlMessage::new(*id, m))
                    .map_err(|e| Error::io("<export>", std::io::Error::other(e)))?;
                out.write_all(b"\n").map_err(|e| Error::io("<export>", e))?;
            }
            written += opened.len() as u64;
            if let Some(pb) = progress {
                pb.inc(opened.len() as u64);
            }
            after = Some(last);
        }
        out.flush().map_err(|e| Error::io("<export>", e))?;
        Ok(written)
    }
}
