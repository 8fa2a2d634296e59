//! How requests reach the server. The in-process transport still encodes and
//! decodes every message, so byte counts and the boundary are the same as
//! over a network; [`Http`] goes to a remote `sseek serve`.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::protocol::{self, Request, Response};
use crate::server::Server;
use crate::store::Store;
use crate::{Error, Result};

pub use crate::http::Http;

/// Bytes and round trips seen by a transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    /// Requests sent.
    pub round_trips: u64,
    /// Encoded request bytes sent.
    pub bytes_sent: u64,
    /// Encoded response bytes received.
    pub bytes_received: u64,
}

impl std::ops::Sub for Traffic {
    type Output = Traffic;
    fn sub(self, rhs: Traffic) -> Traffic {
        Traffic {
            round_trips: self.round_trips - rhs.round_trips,
            bytes_sent: self.bytes_sent - rhs.bytes_sent,
            bytes_received: self.bytes_received - rhs.bytes_received,
        }
    }
}

/// Carries one request to a server and its response back.
pub trait Transport: Send + Sync + Debug {
    /// Sends a request. A server-side rejection comes back as [`Error::Server`].
    ///
    /// # Errors
    /// [`Error::Server`] when the server rejects the request; transport errors.
    fn call(&self, request: &Request) -> Result<Response>;

    /// Traffic so far.
    fn traffic(&self) -> Traffic;
}

/// Boxed transports are transports, so a client can pick one at run time
/// (in-process or [`Http`]) behind one type.
impl<T: Transport + ?Sized> Transport for Box<T> {
    fn call(&self, request: &Request) -> Result<Response> {
        (**self).call(request)
    }

    fn traffic(&self) -> Traffic {
        (**self).traffic()
    }
}

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
