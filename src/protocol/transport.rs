//! How requests reach a server: the [`Transport`] trait every client is
//! written against, and the [`Traffic`] it counts. The in-process transport
//! lives with the server (`crate::server::InProcess`), the HTTP one with the
//! client (`crate::client::Http`); the same client code runs over both.

use std::fmt::Debug;

use serde::Serialize;

use crate::Result;
use crate::protocol::{Request, Response};

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
    /// Sends a request. A server-side rejection comes back as [`crate::Error::Server`].
    ///
    /// # Errors
    /// [`crate::Error::Server`] when the server rejects the request; transport errors.
    fn call(&self, request: &Request) -> Result<Response>;

    /// Traffic so far.
    fn traffic(&self) -> Traffic;
}

/// A borrowed transport is one too, so a short-lived handle can share it.
impl<T: Transport + ?Sized> Transport for &T {
    fn call(&self, request: &Request) -> Result<Response> {
        (**self).call(request)
    }

    fn traffic(&self) -> Traffic {
        (**self).traffic()
    }
}

/// Boxed transports are transports, so a client can pick one at run time
/// (in-process or [`Http`](crate::client::Http)) behind one type.
impl<T: Transport + ?Sized> Transport for Box<T> {
    fn call(&self, request: &Request) -> Result<Response> {
        (**self).call(request)
    }

    fn traffic(&self) -> Traffic {
        (**self).traffic()
    }
}
