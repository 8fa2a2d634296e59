//! Right of access: every message of the account, decrypted, as JSONL that
//! `sseek index` takes back.

use std::cell::Cell;
use std::io::Write;

use indicatif::ProgressBar;

use super::Client;
use crate::message::{JsonlMessage, Message};
use crate::protocol::transport::Transport;
use crate::protocol::{DocId, EncryptedDocument, Request, Response, unexpected};
use crate::{Error, Result};

/// Messages listed and fetched per request during an export.
const EXPORT_CHUNK: u32 = 2_000;

impl<T: Transport> Client<T> {
    /// One page of the tenant's documents in id order: up to `limit` ids
    /// after `after` and their sealed documents, checked to be ascending
    /// and only those asked for. Returns the last id listed, or `None`
    /// past the end.
    pub(super) fn document_page(
        &self,
        after: Option<DocId>,
        limit: u32,
    ) -> Result<Option<(DocId, Vec<EncryptedDocument>)>> {
        let ids = match self.transport.call(&Request::ListDocumentIds { after, limit })? {
            Response::DocumentIds(ids) => ids,
            other => return Err(unexpected(&other)),
        };
        let Some(&last) = ids.last() else { return Ok(None) };
        if after.is_some_and(|a| ids[0] <= a) || ids.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::Server { code: 502, message: "server listed document ids out of order".into() });
        }
        let documents = match self.transport.call(&Request::GetDocuments(ids.clone()))? {
            Response::Documents(d) => d,
            other => return Err(unexpected(&other)),
        };
        if let Some(d) = documents.iter().find(|d| ids.binary_search(&d.public.doc_id).is_err()) {
            return Err(Error::Server {
                code: 502,
                message: format!("server returned document {}, not asked for", d.public.doc_id),
            });
        }
        Ok(Some((last, documents)))
    }

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
            let last = Cell::new(None);
            let (opened, _) = self.opened_documents(|| {
                let page = self.document_page(after, EXPORT_CHUNK)?;
                last.set(page.as_ref().map(|(last, _)| *last));
                Ok(page.map(|(_, documents)| documents).unwrap_or_default())
            })?;
            let Some(last) = last.get() else { break };
            let mut opened: Vec<(DocId, Message)> = opened.into_iter().map(|(id, m, _)| (id, m)).collect();
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
