//! The in-process transport: a [`Transport`] to a [`Server`] in the same
//! process. It still encodes and decodes every message, so byte counts and
//! the boundary are the same as over a network.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Server;
use crate::protocol::transport::{Traffic, Transport};
use crate::protocol::{self, Request, Response};
use crate::store::Store;
use crate::{Error, Result};

#[derive(Debug, Default)]
struct Counters {
    round_trips: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
}

/// A transport to a server in the same process, for a fixed tenant.
#[derive(Debug)]
pub struct InProcess<S: Store> {
    server: Arc<Server<S>>,
    tenant: String,
    counters: Counters,
}

impl<S: Store> InProcess<S> {
    /// A transport to `server` acting as `tenant` (as an authenticated HTTP
    /// transport would after checking the tenant's API token).
    pub fn new(server: Arc<Server<S>>, tenant: &str) -> Self {
        InProcess { server, tenant: tenant.to_owned(), counters: Counters::default() }
    }

    /// The server.
    pub fn server(&self) -> &Arc<Server<S>> {
        &self.server
    }
}

impl<S: Store> Transport for InProcess<S> {
    fn call(&self, request: &Request) -> Result<Response> {
        let bytes = protocol::encode(request);
        let answer = self.server.handle_bytes(&self.tenant, &bytes);
        self.counters.round_trips.fetch_add(1, Ordering::Relaxed);
        self.counters.sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.counters.received.fetch_add(answer.len() as u64, Ordering::Relaxed);
        match protocol::decode::<Response>(&answer)? {
            Response::Error { code, message } => Err(Error::Server { code, message }),
            r => Ok(r),
        }
    }

    fn traffic(&self) -> Traffic {
        Traffic {
            round_trips: self.counters.round_trips.load(Ordering::Relaxed),
            bytes_sent: self.counters.sent.load(Ordering::Relaxed),
            bytes_received: self.counters.received.load(Ordering::Relaxed),
        }
    }
}
