//! Declared leakage of the client-only baselines.
//!
//! Documents are built from a workload as for the blind index
//! ([`crate::leakage::models::blind::messages`]): one sending device uploads them,
//! then a second, cold device runs the searches.
//!
//! - `L_setup`: the number of documents and their ciphertext sizes.
//! - `L_search`: that a search happened. Each search starts with a sync
//!   (the device asks for the document count), and the first one downloads
//!   every document, whatever the query; the server never sees a keyword.
//!   The local-index device syncs the same way, so it leaks the same; a
//!   device that synced on its own schedule would leak nothing per query.

use std::sync::Arc;

use rand::RngCore;

use super::{Baseline, BaselineMode};
use crate::keys::MasterKey;
use crate::leakage::models::blind::{body_query, document_sizes, messages};
use crate::leakage::profile::{
    Leak, LeakValue, LeakageModel, OperationKind, OperationLeakage, Profile, TENANT, Trace, ViewBuilder, Workload,
};
use crate::leakage::view::{DocumentSize, Observed, Recorder, ServerView};
use crate::message::Field;
use crate::message::IndexSpec;
use crate::server::InProcess;
use crate::server::Server;
use crate::store::MemoryStore;
use crate::text::Tokenizer;
use crate::{Error, Result};

/// Download-all: the server stores sealed documents and hands them all out on a cold device's first search.
pub const DOWNLOAD_ALL: Profile = Profile {
    scheme: "client-download-all",
    setup: &[Leak::DocumentCount, Leak::DocumentSizes],
    search: &[Leak::SearchOccurred],
    update: &[],
    forward_private: true,
    backward: None,
    notes: "a search syncs (the first downloads every document): the server learns only that it happened",
};

/// Local index: the device indexes what it downloads; searches run on the device after a sync.
pub const LOCAL_INDEX: Profile = Profile {
    scheme: "client-local-index",
    setup: &[Leak::DocumentCount, Leak::DocumentSizes],
    search: &[Leak::SearchOccurred],
    update: &[],
    forward_private: true,
    backward: None,
    notes: "the sync before a search shows when it happened; the query never reaches the server",
};

/// A client-only baseline device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaselineModel {
    /// Download-all or local index.
    pub mode: BaselineMode,
}

impl LeakageModel for BaselineModel {
    fn profile(&self) -> Profile {
        match self.mode {
            BaselineMode::DownloadAll => DOWNLOAD_ALL,
            BaselineMode::LocalIndex => LOCAL_INDEX,
        }
    }

    fn leakage(&self, workload: &Workload) -> Result<Trace> {
        if workload.has_updates() {
            return Err(Error::Config("baseline workloads upload documents at setup only".into()));
        }
        let sizes = document_sizes(workload)?;
        let mut trace = Trace::new(self.profile().scheme);
        trace.setup = vec![
            (Leak::DocumentCount, LeakValue::Count(sizes.len() as u64)),
            (Leak::DocumentSizes, LeakValue::Sizes(sizes)),
        ];
        trace.operations = workload
            .searches()
            .map(|_| OperationLeakage {
                kind: OperationKind::Search,
                values: vec![(Leak::SearchOccurred, LeakValue::Flag(true))],
            })
            .collect();
        Ok(trace)
    }

    fn simulate(&self, trace: &Trace, _rng: &mut dyn RngCore) -> Result<ServerView> {
        let Some(LeakValue::Sizes(sizes)) = trace.setup_value(Leak::DocumentSizes) else {
            return Err(Error::Config("trace: no document sizes".into()));
        };
        let documents: Vec<DocumentSize> = sizes.iter().map(|(&id, &bytes)| DocumentSize { id, bytes }).collect();
        let mut view = ViewBuilder::new();
        // Upload: an id reservation, then the documents in ingest batches.
        view.other("reserve_document_ids");
        for chunk in documents.chunks(crate::client::INGEST_CHUNK) {
            view.push(Observed::Ingest { documents: chunk.to_vec(), postings: Vec::new() });
        }
        for (i, _) in trace.operations.iter().enumerate() {
            // Each search reads the next free id, and the first fetches everything.
            view.other("reserve_document_ids");
            if i == 0 {
                for chunk in documents.chunks(super::DOWNLOAD_CHUNK) {
                    let ids = chunk.iter().map(|d| d.id).collect();
                    view.push(Observed::GetDocuments { ids, returned: chunk.to_vec() });
                }
            }
        }
        Ok(view.finish())
    }

    fn run(&self, workload: &Workload) -> Result<ServerView> {
        let recorder = Recorder::memory();
        let server = Arc::new(Server::new(MemoryStore::new()).with_observer(recorder.observer()));
        let key = MasterKey::generate()?;
        let specs = vec![IndexSpec::single(Field::Body)];
        let device = |server: Arc<Server<MemoryStore>>| {
            Baseline::new(&key, TENANT, InProcess::new(server, TENANT), Tokenizer::default(), specs.clone(), self.mode)
        };
        device(Arc::clone(&server))?.upload(&messages(workload)?)?;
        let mut searcher = device(server)?;
        for k in workload.searches() {
            searcher.search(&body_query(k)?)?;
        }
        Ok(recorder.view())
    }
}
