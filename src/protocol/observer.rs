//! The hook through which the server's boundary is observed.
//!
//! The server calls a [`BoundaryObserver`] with every request it handled and
//! the response it gave, before the response leaves. The leakage analysis
//! implements it (`crate::leakage::view::Recorder`) to record the server's
//! view; the server itself knows only this trait, so it does not depend on
//! the analysis.

use std::fmt::Debug;

use crate::Result;
use crate::protocol::{Request, Response};

/// Sees every request the server handles and its response.
pub trait BoundaryObserver: Send + Sync + Debug {
    /// Observes one handled request of `tenant` and the response about to be sent.
    ///
    /// # Errors
    /// The observer could not keep the event; the server then refuses to
    /// answer rather than let the observation miss an event.
    fn observe(&self, tenant: &str, request: &Request, response: &Response) -> Result<()>;
}
